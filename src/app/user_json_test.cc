#include "app/user_json.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace ztm::app {
namespace {
namespace json = boost::json;

constexpr const char* kJohn =
    R"({"id":12,"firstName":"John","lastName":"Smith","address":{"streetAddress":"21 2nd Street","city":"New York","state":"NY","postalCode":10021},"phoneNumbers":["212 555-1234","646 555-4567"]})";

std::string error_of(const char* doc, std::optional<UserId> id = std::nullopt) {
  auto r = user_from_json(json::parse(doc), id);
  return r ? "" : r.error().message;
}

TEST(UserJson, TheChaptersUserRoundTripsByteForByte) {
  auto user = user_from_json(json::parse(kJohn), 12);
  ASSERT_TRUE(user) << user.error().message;
  EXPECT_EQ(user->address.postal_code, 10021);
  EXPECT_EQ(serialize_user(*user), kJohn);
}

TEST(UserJson, IdIsReadOnly) {
  EXPECT_EQ(error_of(kJohn), "id: is assigned by the server and must not be sent");
  EXPECT_EQ(error_of(kJohn, 13), "id: does not match the id in the URL");
}

TEST(UserJson, TheDocumentEndsWithTheFollowCounts) {
  auto user = user_from_json(json::parse(kJohn), 12);
  ASSERT_TRUE(user);
  const std::string john(kJohn);
  EXPECT_EQ(serialize_user_document(*user, {.followers = 3, .following = 1}),
            john.substr(0, john.size() - 1) + R"(,"followers":3,"following":1})");
}

TEST(UserJson, CountsAreReadOnly) {
  const std::string john(kJohn);
  auto with = [&](const std::string& counts) {
    return john.substr(0, john.size() - 1) + "," + counts + "}";
  };
  // Sent back by a GET-modify-PUT: accepted and ignored.
  auto user = user_from_json(json::parse(with(R"("followers":3,"following":0)")), 12);
  ASSERT_TRUE(user) << user.error().message;
  EXPECT_EQ(serialize_user(*user), kJohn);
  EXPECT_EQ(error_of(with(R"("followers":-1)").c_str(), 12), "followers: must not be negative");
  EXPECT_EQ(error_of(with(R"("following":"many")").c_str(), 12), "following: must be an integer");
  const std::string create =
      R"({"firstName":"A","lastName":"B","address":{"streetAddress":"s","city":"c","state":"st","postalCode":1},"followers":0})";
  EXPECT_EQ(error_of(create.c_str()), "followers: is counted by the server and must not be sent");
}

TEST(UserJson, PhoneNumbersMayBeOmitted) {
  auto u = user_from_json(
      json::parse(
          R"({"firstName":"A","lastName":"B","address":{"streetAddress":"s","city":"c","state":"st","postalCode":1}})"),
      std::nullopt);
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->phone_numbers.empty());
}

TEST(UserJson, ValidationNamesTheField) {
  const std::string addr =
      R"("address":{"streetAddress":"s","city":"c","state":"st","postalCode":1})";
  auto doc = [&](const std::string& fields) { return "{" + fields + "}"; };
  struct Case {
    std::string doc;
    std::string error;
  } cases[] = {
      {"[]", "body: must be a JSON object"},
      {doc(R"("lastName":"B",)" + addr), "firstName: is required"},
      {doc(R"("firstName":1,"lastName":"B",)" + addr), "firstName: must be a string"},
      {doc(R"("firstName":"","lastName":"B",)" + addr), "firstName: must not be empty"},
      {doc(R"("firstName":")" + std::string(101, 'x') + R"(","lastName":"B",)" + addr),
       "firstName: must be at most 100 characters"},
      {doc(R"("firstName":"a\u0001","lastName":"B",)" + addr),
       "firstName: must not contain control characters"},
      {doc(R"("firstName":"A","lastName":"B","nickname":"x",)" + addr),
       "nickname: is not a known field"},
      {doc(R"("firstName":"A","lastName":"B")"), "address: is required"},
      {doc(R"("firstName":"A","lastName":"B","address":[])"), "address: must be an object"},
      {doc(R"("firstName":"A","lastName":"B","address":{"streetAddress":"s","city":"c","state":"st","postalCode":"10021"})"),
       "address.postalCode: must be an integer"},
      {doc(R"("firstName":"A","lastName":"B","address":{"streetAddress":"s","city":"c","state":"st","postalCode":1.5})"),
       "address.postalCode: must be an integer"},
      {doc(R"("firstName":"A","lastName":"B","address":{"streetAddress":"s","city":"c","state":"st","postalCode":-1})"),
       "address.postalCode: must be between 0 and 999999999"},
      {doc(R"("firstName":"A","lastName":"B","address":{"streetAddress":"s","city":"c","state":"st","postalCode":1,"zip":2})"),
       "address.zip: is not a known field"},
      {doc(R"("firstName":"A","lastName":"B","address":{"city":"c","state":"st","postalCode":1})"),
       "address.streetAddress: is required"},
      {doc(R"("firstName":"A","lastName":"B",)" + addr + R"(,"phoneNumbers":"212")"),
       "phoneNumbers: must be an array of strings"},
      {doc(R"("firstName":"A","lastName":"B",)" + addr + R"(,"phoneNumbers":["212",5])"),
       "phoneNumbers[1]: must be a string"},
      {doc(R"("firstName":"A","lastName":"B",)" + addr + R"(,"phoneNumbers":["call me"])"),
       "phoneNumbers[0]: may contain only digits, spaces and + - ( ) . x"},
      {doc(R"("firstName":"A","lastName":"B",)" + addr + R"(,"phoneNumbers":["--"])"),
       "phoneNumbers[0]: must contain a digit"},
  };
  for (const auto& c : cases) EXPECT_EQ(error_of(c.doc.c_str()), c.error) << c.doc;
}

TEST(UserJson, LengthsCountCharactersNotBytes) {
  std::string name;
  for (int i = 0; i < 100; ++i) name += "é";  // 200 bytes, 100 characters
  const std::string doc =
      R"({"firstName":")" + name +
      R"(","lastName":"B","address":{"streetAddress":"s","city":"c","state":"st","postalCode":1}})";
  EXPECT_EQ(error_of(doc.c_str()), "");
}

TEST(UserJson, MergePatchFollowsRfc7396) {
  // The examples of RFC 7396, appendix A (a selection).
  struct Case {
    const char* target;
    const char* patch;
    const char* result;
  } cases[] = {
      {R"({"a":"b"})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"b"})", R"({"b":"c"})", R"({"a":"b","b":"c"})"},
      {R"({"a":"b"})", R"({"a":null})", R"({})"},
      {R"({"a":["b"]})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":{"b":"c"}})", R"({"a":{"b":"d","c":null}})", R"({"a":{"b":"d"}})"},
      {R"({"a":[{"b":"c"}]})", R"({"a":[1]})", R"({"a":[1]})"},
      {R"({"e":null})", R"({"a":1})", R"({"e":null,"a":1})"},
      {R"([1,2])", R"({"a":"b","c":null})", R"({"a":"b"})"},
      {R"({})", R"({"a":{"bb":{"ccc":null}}})", R"({"a":{"bb":{}}})"},
  };
  for (const auto& c : cases) {
    json::value target = json::parse(c.target);
    merge_patch(target, json::parse(c.patch));
    EXPECT_EQ(target, json::parse(c.result)) << c.target << " + " << c.patch;
  }
}

}  // namespace
}  // namespace ztm::app
