#include "core/utf8.h"

#include <gtest/gtest.h>

namespace ztm {
namespace {

TEST(Utf8, WellFormedTextIsKept) {
  const std::string text = "plain, caf\xC3\xA9, \xE2\x82\xAC, \xF0\x9F\x98\x80";
  EXPECT_EQ(utf8_valid_prefix(text), text.size());
  EXPECT_EQ(valid_utf8(text), text);
}

TEST(Utf8, EachIllFormedSequenceBecomesOneReplacementCharacter) {
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(valid_utf8("a\xFF"
                       "b"),
            "a" + r + "b");
  EXPECT_EQ(valid_utf8("\xC0\xAF"), r + r);                  // overlong: two bytes, two U+FFFD
  EXPECT_EQ(valid_utf8("\xED\xA0\x80"), r + r + r);          // a surrogate
  EXPECT_EQ(valid_utf8("\xE2\x82"), r);                      // truncated: its maximal subpart
  EXPECT_EQ(valid_utf8("\xF4\x90\x80\x80"), r + r + r + r);  // above U+10FFFF
  EXPECT_EQ(valid_utf8("\xE2\x82x"), r + "x");
  EXPECT_EQ(utf8_valid_prefix("ok\xFE"), 2u);
}

}  // namespace
}  // namespace ztm
