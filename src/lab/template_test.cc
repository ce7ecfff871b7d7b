#include "lab/template.h"

#include <gtest/gtest.h>

namespace ztm::lab {
namespace {

TEST(Render, ReplacesEveryPlaceholder) {
  EXPECT_EQ(render("listen {{a}}:{{p}} {{a}}", {{"a", "10.77.1.20"}, {"p", "5432"}}),
            "listen 10.77.1.20:5432 10.77.1.20");
}

TEST(Render, TextWithoutPlaceholdersIsUnchanged) {
  EXPECT_EQ(render("a { b } }}", {}), "a { b } }}");
}

TEST(Render, MissingValueNamesThePlaceholder) {
  try {
    render("x {{port}}", {});
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("{{port}}"), std::string::npos);
  }
}

TEST(Render, UnclosedPlaceholderIsAnError) {
  EXPECT_THROW(render("x {{port", {{"port", "1"}}), std::runtime_error);
}

TEST(Templates, EveryDeployTemplateRendersWithItsEngineVariables) {
  // The engines' variables: a template and its engine must agree.
  const Vars ztm = {{"host", "web1"}, {"address", "a"},  {"port", "1"},
                    {"node_id", "1"}, {"workdir", "/w"}, {"postgres_url", "postgresql://"}};
  const Vars pg = {{"address", "a"}, {"port", "1"}, {"socket_dir", "/s"}};
  const std::string out = ::testing::TempDir() + "/rendered";
  EXPECT_NO_THROW(render_file("ztm", "ztm-sqlite.toml", ztm, out));
  EXPECT_NO_THROW(render_file("ztm", "ztm-postgres.toml", ztm, out));
  EXPECT_NO_THROW(render_file("postgres", "postgresql.conf", pg, out));
  EXPECT_NO_THROW(render_file("postgres", "pg_hba.conf", pg, out));
  // --observe (engines/observe.cc, engines/logs.cc)
  EXPECT_NO_THROW(render_file("prometheus", "prometheus.yml",
                              {{"alertmanager", "a:1"}, {"targets", "/t"}}, out));
  EXPECT_NO_THROW(render_file("alertmanager", "alertmanager.yml", {}, out));
  EXPECT_NO_THROW(
      render_file("rsyslog", "log-host.conf",
                  {{"workdir", "/w"}, {"address", "a"}, {"port", "1"}, {"logdir", "/l"}}, out));
  EXPECT_NO_THROW(render_file(
      "rsyslog", "shipper.conf",
      {{"workdir", "/w"}, {"host", "web1"}, {"host_dir", "/h"}, {"log_host", "a"}, {"port", "1"}},
      out));
}

}  // namespace
}  // namespace ztm::lab
