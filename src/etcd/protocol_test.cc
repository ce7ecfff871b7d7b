// The gateway's messages: what the client sends, and what it accepts back (examples taken from
// etcd 3.4.23's answers).

#include "etcd/protocol.h"

#include <gtest/gtest.h>

#include <string>

namespace ztm::etcd {
namespace {

constexpr const char* kHeader =
    R"("header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709",)"
    R"("revision":"4","raft_term":"2"})";

std::string with_header(const std::string& rest) {
  return std::string("{") + kHeader + rest + "}";
}

TEST(EtcdProtocol, Base64RoundTripsEveryLength) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("/ztm/shards/map"), "L3p0bS9zaGFyZHMvbWFw");
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  for (std::size_t n = 0; n <= bytes.size(); ++n) {
    const auto text = base64_encode(bytes.substr(0, n));
    const auto back = base64_decode(text);
    ASSERT_TRUE(back.has_value()) << text;
    EXPECT_EQ(*back, bytes.substr(0, n));
  }
}

TEST(EtcdProtocol, Base64RejectsWhatIsNotPaddedBase64) {
  for (const char* bad : {"Zg", "Zg=", "Z===", "====", "Zm9v!", "Zm 9", "Zg==Zg==", "Z=g="})
    EXPECT_FALSE(base64_decode(bad).has_value()) << bad;
}

TEST(EtcdProtocol, RequestBodies) {
  EXPECT_EQ(range_request("foo"), R"({"key":"Zm9v"})");
  EXPECT_EQ(put_if_request("foo", "bar", 0),
            R"({"compare":[{"target":"MOD","key":"Zm9v","mod_revision":"0","result":"EQUAL"}],)"
            R"("success":[{"request_put":{"key":"Zm9v","value":"YmFy"}}]})");
  EXPECT_EQ(watch_request("foo", 7), R"({"create_request":{"key":"Zm9v","start_revision":"7"}})");
}

TEST(EtcdProtocol, RangeFindsTheKeyOrNot) {
  const auto found = parse_range(
      with_header(R"(,"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"3","version":"2",)"
                  R"("value":"YmF6"}],"count":"1")"));
  ASSERT_TRUE(found.ok()) << found.error().message;
  EXPECT_EQ(found->value, "baz");
  EXPECT_EQ(found->mod_revision, 3);
  EXPECT_EQ(found->revision, 4);
  const auto missing = parse_range(with_header(""));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::not_found);
  // An empty value is left out by the gateway: still a value.
  const auto empty = parse_range(with_header(R"(,"kvs":[{"key":"Zm9v","mod_revision":"5"}])"));
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->value, "");
}

TEST(EtcdProtocol, MalformedAnswersAreInternal) {
  for (const std::string& bad :
       {std::string("not json"), std::string("[1]"), std::string(R"({"header":7})"),
        std::string(R"({"header":{"revision":"x4"}})"), with_header(R"(,"kvs":{})"),
        with_header(R"(,"kvs":[{"value":"YmF6","mod_revision":"3"},{"mod_revision":"3"}])"),
        with_header(R"(,"kvs":[{"value":"Y!F6","mod_revision":"3"}])"),
        with_header(R"(,"kvs":[{"value":"YmF6"}])"),
        std::string(R"({"a":[[[[[[[[[[1]]]]]]]]]]})")}) {
    const auto r = parse_range(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, Errc::internal) << bad;
  }
}

TEST(EtcdProtocol, PutAndPrefixRangeBodies) {
  EXPECT_EQ(put_request("foo", "bar"), R"({"key":"Zm9v","value":"YmFy"})");
  EXPECT_EQ(put_request("foo", "bar", 7587), R"({"key":"Zm9v","value":"YmFy","lease":"7587"})");
  EXPECT_EQ(lease_grant_request(15), R"({"TTL":"15"})");
  // The range of a prefix ends at the prefix with its last byte incremented.
  EXPECT_EQ(prefix_range_request("foo", 1000),
            R"({"key":"Zm9v","range_end":"Zm9w","limit":"1000"})");
  EXPECT_EQ(prefix_end("/ztm/load/"), "/ztm/load0");
  EXPECT_EQ(prefix_end("a\xff"), "b");
  EXPECT_EQ(prefix_end("\xff\xff"), std::string(1, '\0'));
  const auto put = parse_put(with_header(""));
  ASSERT_TRUE(put.ok()) << put.error().message;
  EXPECT_EQ(*put, 4);
  EXPECT_EQ(parse_put("{}").error().code, Errc::internal);  // no header: not etcd's answer
  EXPECT_EQ(parse_put("nope").error().code, Errc::internal);
}

TEST(EtcdProtocol, ALeaseGrantIsItsIdOrAnError) {
  const auto lease = parse_lease_grant(with_header(R"(,"ID":"7587869203512345678","TTL":"15")"));
  ASSERT_TRUE(lease.ok()) << lease.error().message;
  EXPECT_EQ(*lease, 7587869203512345678);
  EXPECT_EQ(parse_lease_grant(with_header(R"(,"ID":"0","TTL":"15")")).error().code, Errc::internal);
  EXPECT_EQ(parse_lease_grant(with_header(R"(,"ID":"12")")).error().code, Errc::internal);
  EXPECT_EQ(parse_lease_grant(with_header(R"(,"ID":"x","TTL":"15")")).error().code, Errc::internal);
  EXPECT_EQ(parse_lease_grant(with_header(R"(,"error":"too many leases")")).error().code,
            Errc::unavailable);
  EXPECT_EQ(parse_lease_grant("{}").error().code, Errc::internal);
}

TEST(EtcdProtocol, PrefixRangeListsKeysOrRefusesNonsense) {
  const auto two = parse_prefix_range(
      with_header(R"(,"kvs":[{"key":"YQ==","mod_revision":"3","value":"MQ=="},)"
                  R"({"key":"Yg==","mod_revision":"4"}],"more":true,"count":"5")"),
      2);
  ASSERT_TRUE(two.ok()) << two.error().message;
  ASSERT_EQ(two->kvs.size(), 2u);
  EXPECT_EQ(two->kvs[0].key, "a");
  EXPECT_EQ(two->kvs[0].value, "1");
  EXPECT_EQ(two->kvs[1].value, "");  // an empty value is left out by the gateway
  EXPECT_EQ(two->kvs[1].mod_revision, 4);
  EXPECT_TRUE(two->more);
  EXPECT_EQ(two->revision, 4);
  const auto none = parse_prefix_range(with_header(""), 10);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->kvs.empty());
  EXPECT_FALSE(none->more);
  for (const std::string& bad :
       {std::string("[]"), with_header(R"(,"kvs":{})"), with_header(R"(,"more":"yes")"),
        with_header(R"(,"kvs":[{"value":"MQ==","mod_revision":"3"}])"),  // no key
        with_header(R"(,"kvs":[{"key":"YQ==","value":"M!==","mod_revision":"3"}])"),
        with_header(R"(,"kvs":[{"key":"YQ==","mod_revision":"0"}])"),
        // More keys than asked for: not what etcd sends.
        with_header(
            R"(,"kvs":[{"key":"YQ==","mod_revision":"3"},{"key":"Yg==","mod_revision":"3"}])")}) {
    const auto r = parse_prefix_range(bad, 1);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, Errc::internal) << bad;
  }
}

TEST(EtcdProtocol, PutIfSucceedsOrFailsItsPrecondition) {
  const auto done =
      parse_put_if(with_header(R"(,"succeeded":true,"responses":[{"response_put":{}}])"));
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(*done, 4);
  const auto lost = parse_put_if(with_header(""));  // "succeeded": false is left out
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.error().code, Errc::precondition_failed);
  EXPECT_EQ(parse_put_if(with_header(R"(,"succeeded":"yes")")).error().code, Errc::internal);
}

TEST(EtcdProtocol, WatchResponses) {
  const auto created =
      parse_watch_response(std::string(R"({"result":{)") + kHeader + R"(,"created":true}})");
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_TRUE(created->created);
  EXPECT_EQ(created->revision, 4);
  EXPECT_TRUE(created->events.empty());

  const auto events = parse_watch_response(
      std::string(R"({"result":{)") + kHeader +
      R"(,"events":[{"kv":{"key":"Zm9v","create_revision":"2","mod_revision":"5","version":"3",)"
      R"("value":"cXV4"}},{"type":"DELETE","kv":{"key":"Zm9v","mod_revision":"6"}}]}})");
  ASSERT_TRUE(events.ok()) << events.error().message;
  ASSERT_EQ(events->events.size(), 2u);
  EXPECT_EQ(events->events[0].type, WatchEvent::Type::put);
  EXPECT_EQ(events->events[0].value, "qux");
  EXPECT_EQ(events->events[0].mod_revision, 5);
  EXPECT_EQ(events->events[1].type, WatchEvent::Type::del);
  EXPECT_EQ(events->events[1].mod_revision, 6);

  const auto compacted = parse_watch_response(
      R"({"result":{"header":{"raft_term":"2"},"canceled":true,"compact_revision":"5"}})");
  ASSERT_TRUE(compacted.ok());
  EXPECT_TRUE(compacted->canceled);
  EXPECT_EQ(compacted->compact_revision, 5);

  const auto error = parse_watch_response(
      R"({"error":"invalid character 'g'","message":"invalid character 'g'","code":2})");
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.error().code, Errc::unavailable);
  EXPECT_NE(error.error().message.find("invalid character"), std::string::npos);

  for (const char* bad : {R"({"result":[]})", R"({"result":{"events":{}}})",
                          R"({"result":{"events":[{"type":"MOVE","kv":{"mod_revision":"1"}}]}})",
                          R"({"result":{"events":[{"kv":{"value":7,"mod_revision":"1"}}]}})",
                          R"({"result":{"created":"yes"}})", "{}", "garbage"}) {
    const auto r = parse_watch_response(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, Errc::internal) << bad;
  }
}

TEST(EtcdProtocol, ErrorAnswersMapToErrc) {
  const auto bad_key = error_from_answer(
      400, R"({"error":"illegal base64 data","message":"illegal base64 data","code":3})", "get");
  EXPECT_EQ(bad_key.code, Errc::invalid_argument);
  EXPECT_EQ(bad_key.message, "etcd get: HTTP 400: illegal base64 data");
  EXPECT_EQ(error_from_answer(503, "no leader", "get").code, Errc::unavailable);
  EXPECT_EQ(error_from_answer(400, R"({"message":"timed out","code":4})", "get").code,
            Errc::unavailable);
  EXPECT_EQ(error_from_answer(404, "404 page not found", "get").code, Errc::internal);
}

TEST(EtcdProtocol, LineSplitterFramesMessages) {
  LineSplitter splitter(8);
  ASSERT_TRUE(splitter.feed("ab\ncd").ok());
  EXPECT_EQ(splitter.next(), "ab");
  EXPECT_EQ(splitter.next(), std::nullopt);
  ASSERT_TRUE(splitter.feed("e\n\n  \nfg\nh").ok());
  EXPECT_EQ(splitter.next(), "cde");  // across two feeds
  EXPECT_EQ(splitter.next(), "fg");   // blank lines skipped
  EXPECT_EQ(splitter.next(), std::nullopt);
  EXPECT_EQ(splitter.buffered(), 1u);
  ASSERT_TRUE(splitter.feed("1234567").ok());  // "h1234567": 8 bytes, at the cap
  EXPECT_EQ(splitter.next(), std::nullopt);
  ASSERT_TRUE(splitter.feed("\n").ok());
  EXPECT_EQ(splitter.next(), "h1234567");
}

TEST(EtcdProtocol, LineSplitterRefusesAMessagePastItsCap) {
  LineSplitter endless(8);
  ASSERT_TRUE(endless.feed("12345").ok());
  const auto fed = endless.feed("6789");  // unfinished, 9 bytes
  ASSERT_FALSE(fed.ok());
  EXPECT_EQ(fed.error().code, Errc::invalid_argument);
  EXPECT_EQ(endless.buffered(), 5u);  // nothing appended past the cap

  LineSplitter oversized(8);
  EXPECT_FALSE(oversized.feed("ok\n123456789\nok\n").ok());  // a finished one, too long
  EXPECT_EQ(oversized.buffered(), 0u);
}

}  // namespace
}  // namespace ztm::etcd
