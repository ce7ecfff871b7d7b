#include "cache/redis/cached_value_codec.h"

#include <gtest/gtest.h>

namespace ztm::cache {
namespace {

TEST(CachedValueCodec, RoundTripsDataContainingTheSeparator) {
  const CachedValue value{R"({"a":"b:c"})", 42};
  EXPECT_EQ(encode_cached_value(value), R"(42:{"a":"b:c"})");
  const CachedPtr back = decode_cached_value(encode_cached_value(value));
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(back->version, 42);
  EXPECT_EQ(back->data, value.data);
  EXPECT_EQ(decode_cached_value("7:")->data, "");
}

TEST(CachedValueCodec, RejectsBytesNotInItsForm) {
  for (const char* bad : {"", "no colon", ":data", "x1:data", "-1:data", "12345678901234567890:d"})
    EXPECT_EQ(decode_cached_value(bad), nullptr) << bad;
}

}  // namespace
}  // namespace ztm::cache
