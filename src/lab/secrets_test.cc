#include "lab/secrets.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <string>

namespace ztm::lab {
namespace {

class LabSecret : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ztm-secrets-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST_F(LabSecret, IsMadeOnceAndKeptOnlyForItsOwner) {
  const std::string first = lab_secret(dir_, "postgres-app");
  EXPECT_EQ(first.size(), 32u);
  EXPECT_EQ(first.find_first_not_of("0123456789abcdef"), std::string::npos) << first;
  EXPECT_EQ(lab_secret(dir_, "postgres-app"), first);
  EXPECT_NE(lab_secret(dir_, "redis-app"), first);
  EXPECT_EQ(mode_of(dir_ + "/secrets"), 0700u);
  EXPECT_EQ(mode_of(dir_ + "/secrets/postgres-app"), 0600u);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_ + "/secrets"),
                          std::filesystem::directory_iterator()),
            2);  // no temporary file left
}

TEST_F(LabSecret, DiffersBetweenLabs) {
  const std::string other = dir_ + "/other";
  std::filesystem::create_directory(other);
  EXPECT_NE(lab_secret(dir_, "x"), lab_secret(other, "x"));
}

TEST_F(LabSecret, RefusesABadNameAndALinkedDirectory) {
  EXPECT_THROW(lab_secret(dir_, "../x"), std::runtime_error);
  EXPECT_THROW(lab_secret(dir_, ""), std::runtime_error);
  const std::string elsewhere = dir_ + "/elsewhere";
  std::filesystem::create_directory(elsewhere);
  std::filesystem::create_directory_symlink(elsewhere, dir_ + "/secrets");
  EXPECT_THROW(lab_secret(dir_, "x"), std::runtime_error);
  EXPECT_TRUE(std::filesystem::is_empty(elsewhere));
}

TEST_F(LabSecret, RefusesADirectoryOthersCanRead) {
  ASSERT_EQ(::mkdir((dir_ + "/secrets").c_str(), 0755), 0);
  ASSERT_EQ(::chmod((dir_ + "/secrets").c_str(), 0755), 0);
  EXPECT_THROW(lab_secret(dir_, "x"), std::runtime_error);
}

}  // namespace
}  // namespace ztm::lab
