#include "media/blob_store.h"

#include <gtest/gtest.h>

namespace ztm::media {
namespace {

constexpr std::string_view kAbcSha256 =
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";  // FIPS 180-2, "abc"

TEST(BlobKey, IsTheSha256InLowerCaseHexThenTheExtension) {
  EXPECT_EQ(blob_key("abc", "jpg"), std::string(kAbcSha256) + ".jpg");
  EXPECT_EQ(blob_key("abc", "webp"), std::string(kAbcSha256) + ".webp");
  EXPECT_EQ(blob_key("", "png"),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.png");
  EXPECT_EQ(blob_key(std::string_view("a\0b", 3), "jpg"),
            blob_key(std::string_view("a\0b", 3), "jpg"));
  EXPECT_NE(blob_key(std::string_view("a\0b", 3), "jpg"), blob_key("a", "jpg"));
}

TEST(BlobKey, ValidKeysAreExactlyHashDotFormat) {
  const std::string hex(kAbcSha256);
  EXPECT_TRUE(valid_blob_key(hex + ".jpg"));
  EXPECT_TRUE(valid_blob_key(hex + ".png"));
  EXPECT_TRUE(valid_blob_key(hex + ".webp"));
  EXPECT_FALSE(valid_blob_key(""));
  EXPECT_FALSE(valid_blob_key(hex));
  EXPECT_FALSE(valid_blob_key(hex + "."));
  EXPECT_FALSE(valid_blob_key(hex + ".gif"));
  EXPECT_FALSE(valid_blob_key(hex + ".JPG"));
  EXPECT_FALSE(valid_blob_key(hex + ".jpg\n"));
  EXPECT_FALSE(valid_blob_key(hex.substr(1) + ".jpg"));
  EXPECT_FALSE(valid_blob_key(hex + "0.jpg"));
  EXPECT_FALSE(valid_blob_key("B" + hex.substr(1) + ".jpg"));  // upper case
  EXPECT_FALSE(valid_blob_key("../" + hex.substr(3) + ".jpg"));
}

}  // namespace
}  // namespace ztm::media
