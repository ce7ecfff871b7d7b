#include "core/secret_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "core/faults.h"
#include "tests/support/temp_dir.h"

namespace ztm {
namespace {

class SecretFile : public ::testing::Test {
 protected:
  std::string write(const std::string& text, mode_t mode = 0600) {
    const std::string path = dir_.file("secret" + std::to_string(++n_));
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    return path;
  }
  // The message read_secret_file threw ("" when it did not).
  static std::string refusal(const std::string& path) {
    try {
      read_secret_file(path);
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "";
  }

  test::TempDir dir_;
  int n_ = 0;
};

TEST_F(SecretFile, IsItsFirstLineWithoutTheLineBreak) {
  EXPECT_EQ(read_secret_file(write("0123abcd\n")), "0123abcd");
  EXPECT_EQ(read_secret_file(write("with spaces and = signs\r\n")), "with spaces and = signs");
  EXPECT_EQ(read_secret_file(write("no-newline")), "no-newline");
  EXPECT_EQ(read_secret_file(write("group may read\n", 0640)), "group may read");
}

TEST_F(SecretFile, RefusesWhatIsNotOnePrivateLine) {
  EXPECT_NE(refusal(dir_.file("missing")).find("cannot open"), std::string::npos);
  EXPECT_NE(refusal(write("x\n", 0644)).find("is open to other users (mode 644): chmod o= it"),
            std::string::npos);
  EXPECT_NE(refusal(write("x\n", 0602)).find("open to other users"), std::string::npos);
  EXPECT_NE(refusal(write("\n")).find("is empty"), std::string::npos);
  EXPECT_NE(refusal(write("a\nb\n")).find("more than one line"), std::string::npos);
  EXPECT_NE(refusal(write(std::string(513, 'x'))).find("over 512 bytes"), std::string::npos);
  std::filesystem::create_directory(dir_.file("a-directory"));
  EXPECT_NE(refusal(dir_.file("a-directory")).find("not a regular file"), std::string::npos);
  // The refusals never quote the secret.
  EXPECT_EQ(refusal(write("a-secret\nb\n")).find("a-secret"), std::string::npos);
}

TEST(Faults, AreRaisedOnceAndClearedByKey) {
  Faults faults;
  EXPECT_EQ(faults.first(), "");
  EXPECT_TRUE(faults.raise("redis b", "b refused"));
  EXPECT_FALSE(faults.raise("redis b", "b refused again")) << "not news: logged once";
  EXPECT_TRUE(faults.raise("redis a", "a refused"));
  EXPECT_EQ(faults.first(), "a refused");
  EXPECT_TRUE(faults.clear("redis a"));
  EXPECT_FALSE(faults.clear("redis a"));
  EXPECT_EQ(faults.first(), "b refused again");
  faults.clear("redis b");
  EXPECT_EQ(faults.first(), "");
}

}  // namespace
}  // namespace ztm
