#include "lab/engines/files.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "lab/template.h"

namespace ztm::lab {
namespace {

namespace fs = std::filesystem;

// An engine's user owns its directory and may put links there; root must not follow them.
class NoLinks : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ztm-files-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    fs::create_directory(dir_ + "/engine");
    victim_ = dir_ + "/victim";
    std::ofstream(victim_) << "precious";
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string contents(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  std::string dir_, victim_;
};

TEST_F(NoLinks, WriteFileRefusesASymbolicLinkAtTheNameAndLeavesItsTarget) {
  fs::create_symlink(victim_, dir_ + "/engine/postgres.log");
  EXPECT_THROW(write_file(dir_ + "/engine/postgres.log", ""), std::runtime_error);
  EXPECT_EQ(contents(victim_), "precious");
}

TEST_F(NoLinks, WriteFileRefusesALinkedDirectoryOnThePath) {
  fs::create_directory(dir_ + "/elsewhere");
  fs::create_directory_symlink(dir_ + "/elsewhere", dir_ + "/engine/data");
  EXPECT_THROW(write_file(dir_ + "/engine/data/postgresql.conf", "x"), std::runtime_error);
  EXPECT_TRUE(fs::is_empty(dir_ + "/elsewhere"));
}

TEST_F(NoLinks, WriteFileRefusesAHardLinkToAnotherFile) {
  fs::create_hard_link(victim_, dir_ + "/engine/patroni.yml");
  EXPECT_THROW(write_file(dir_ + "/engine/patroni.yml", "x"), std::runtime_error);
  EXPECT_EQ(contents(victim_), "precious");
}

TEST_F(NoLinks, WriteFileReplacesAPlainFileWithItsMode) {
  const std::string path = dir_ + "/engine/patroni.yml";
  write_file(path, "a long first version", 0644);
  write_file(path, "short", 0600);
  EXPECT_EQ(contents(path), "short");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(NoLinks, ChownRefusesALinkAndOpenRefusesOneForReading) {
  fs::create_symlink(victim_, dir_ + "/engine/log");
  const passwd& root = *::getpwuid(0);
  EXPECT_THROW(chown_to(dir_ + "/engine/log", root), std::runtime_error);
  EXPECT_LT(open_no_links(dir_ + "/engine/log", O_RDONLY), 0);
  const int fd = open_no_links(victim_, O_RDONLY);
  EXPECT_GE(fd, 0);
  if (fd >= 0) ::close(fd);
  EXPECT_NO_THROW(chown_to(dir_ + "/engine", root));
}

}  // namespace
}  // namespace ztm::lab
