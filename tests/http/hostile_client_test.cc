// What a hostile client tried (issue 13) and what it gets now: the real server on port 0, raw
// bytes over real sockets. Each test failed on the server before the fix it names.
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <vector>

#include "media/blob_store.h"
#include "tests/support/eventually.h"
#include "tests/support/http_client.h"
#include "tests/support/test_server.h"

namespace ztm {
namespace {
using test::eventually;
using test::HttpClient;
using test::Reply;
using test::TestServer;

void expect_error(const Reply& r, unsigned status, const std::string& code) {
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_EQ(boost::json::parse(r.body).at("error").at("code").as_string(), code) << r.body;
}

bool readable(HttpClient& c, int timeout_ms) {
  pollfd p{c.native_handle(), POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) == 1;
}

// Sends `piece` again and again until the server answers or `max` bytes are out; the bytes sent
// before the answer, nullopt if none came.
std::optional<std::size_t> send_until_answered(HttpClient& c, std::string_view piece,
                                               std::size_t max) {
  for (std::size_t sent = 0; sent < max; sent += piece.size()) {
    if (readable(c, 10)) return sent;
    try {
      c.send(piece);
    } catch (const std::exception&) {
      return readable(c, 1000) ? std::optional(sent) : std::nullopt;  // closed after answering
    }
  }
  return std::nullopt;
}

// Finding 1: Beast bounds neither a chunk-extension nor a trailer line; the server's read buffer
// had no cap, so one connection could make it hold gigabytes. Now the buffer holds one head
// plus one read (http::kReadChunk), and a line longer than that is refused. Sends `head`, then a
// line that never ends; the server must answer before 1 MiB of it.
Reply answer_to_endless_line(std::string_view head) {
  TestServer server;
  HttpClient c(server.port());
  c.send(head);
  const auto sent = send_until_answered(c, std::string(16 * 1024, 'a'), 8 << 20);
  EXPECT_TRUE(sent) << "the server kept reading 8 MiB of one line";
  EXPECT_LE(sent.value_or(8 << 20), 1u << 20);
  return sent ? c.read() : Reply{};
}

constexpr std::string_view kChunkedLogin =
    "POST /sessions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    "Transfer-Encoding: chunked\r\n\r\n";

TEST(HostileClient, AChunkExtensionThatNeverEndsIsCutOffAtTheReadBuffer) {
  expect_error(answer_to_endless_line(std::string(kChunkedLogin) + "1;"), 400, "bad_request");
}

TEST(HostileClient, ATrailerLineThatNeverEndsIsCutOffAtTheReadBuffer) {
  const auto r = answer_to_endless_line(std::string(kChunkedLogin) + "2\r\n{}\r\n0\r\nX-T: ");
  EXPECT_TRUE(r.status == 400 || r.status == 431) << r.status << " " << r.body;
}

// Finding 8: a Transfer-Encoding we do not understand was read as "no body", so what followed
// was parsed as a second request (smuggling past a proxy that framed it otherwise).
TEST(HostileClient, AnUnknownTransferEncodingIs400AndNothingIsSmuggled) {
  TestServer server;
  const std::string smuggled = "GET /users/22 HTTP/1.1\r\nHost: t\r\n\r\n";
  for (const std::string te : {"xchunked", "chunked, identity", "identity",
                               "chunked\r\n"
                               "Transfer-Encoding: "
                               "chunked"}) {
    HttpClient c(server.port());
    c.send(
        "POST /users HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: " +
        te + "\r\n\r\n" + smuggled);
    expect_error(c.read(), 400, "bad_request");
    EXPECT_TRUE(c.closed_by_peer()) << te << ": the smuggled request was answered";
  }
  HttpClient gzip(server.port());
  gzip.send("POST /users HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n");
  expect_error(gzip.read(), 501, "not_implemented");
  EXPECT_TRUE(gzip.closed_by_peer());
}

TEST(HostileClient, ObsFoldHostProblemsAndChunkedHttp10Are400) {
  TestServer server;
  for (const std::string head :
       {"GET /users/12 HTTP/1.1\r\nHost: t\r\nX-A: one\r\n two\r\n\r\n",
        "GET /users/12 HTTP/1.1\r\nHost: t\r\nX-A: one\r\n\ttwo\r\n\r\n",
        "GET /users/12 HTTP/1.1\r\n\r\n", "GET /users/12 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET /users/12 HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n",
        "POST /users HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"}) {
    HttpClient c(server.port());
    c.send(head);
    expect_error(c.read(), 400, "bad_request");
    EXPECT_TRUE(c.closed_by_peer()) << head;
  }
  // HTTP/1.0 may leave Host out.
  HttpClient ok(server.port());
  ok.send("GET /users/12 HTTP/1.0\r\n\r\n");
  EXPECT_EQ(ok.read().status, 200u);
}

// Finding 4: an anonymous upload got "100 Continue" and its 20 MiB body was read before the 401.
// Now route, method and credentials are decided from the headers alone.
TEST(HostileClient, AnAnonymousUploadIsRefusedBeforeItsBodyIsRead) {
  TestServer server;
  const std::string head =
      "POST /users/12/photos HTTP/1.1\r\nHost: t\r\nContent-Type: image/png\r\n"
      "Content-Length: 20000000\r\n";
  HttpClient expecting(server.port());
  expecting.send(head + "Expect: 100-continue\r\n\r\n");
  const auto r = expecting.read();  // a 100 Continue here would be read as the response
  expect_error(r, 401, "unauthenticated");
  EXPECT_TRUE(expecting.closed_by_peer());

  HttpClient eager(server.port());
  eager.send(head + "\r\n");
  ASSERT_TRUE(readable(eager, 5000)) << "the server waited for the body";
  expect_error(eager.read(), 401, "unauthenticated");

  // Someone else's photos (user 12 is John, the token's user; 22 is the admin): 403, still
  // before the body.
  HttpClient other(server.port());
  other.send("POST /users/22/photos" + head.substr(head.find(" HTTP/")) + "Authorization: Bearer " +
             server.user_token() + "\r\n\r\n");
  ASSERT_TRUE(readable(other, 5000));
  expect_error(other.read(), 403, "forbidden");

  // No such route or method: answered from the request line, the body never read.
  HttpClient lost(server.port());
  lost.send("POST /nowhere HTTP/1.1\r\nHost: t\r\nContent-Length: 20000000\r\n\r\n");
  ASSERT_TRUE(readable(lost, 5000));
  expect_error(lost.read(), 404, "not_found");
}

// Finding 5: one address could take every connection slot, and a connection that never sent a
// byte held its slot for the 60 s idle timeout.
TEST(HostileClient, OneAddressGetsAtMostItsShareOfConnections) {
  TestServer server([](Config& config) { config.http.max_connections_per_address = 3; });
  std::vector<std::unique_ptr<HttpClient>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<HttpClient>(server.port()));
    EXPECT_EQ(held.back()->request("GET", "/healthz").status, 200u);
  }
  HttpClient fourth(server.port());
  expect_error(fourth.read(), 429, "too_many_connections");
  held.pop_back();  // a slot frees when a connection closes
  EXPECT_TRUE(eventually([&] {
    HttpClient again(server.port());
    try {
      return again.request("GET", "/healthz").status == 200u;
    } catch (const std::exception&) {
      return false;
    }
  }));
}

TEST(HostileClient, ATrustedProxyIsNotLimitedPerAddress) {
  TestServer server([](Config& config) {
    config.http.max_connections_per_address = 2;
    config.http.trusted_proxies = "127.0.0.1";
  });
  std::vector<std::unique_ptr<HttpClient>> held;
  for (int i = 0; i < 5; ++i) {
    held.push_back(std::make_unique<HttpClient>(server.port()));
    EXPECT_EQ(held.back()->request("GET", "/healthz").status, 200u);
  }
}

TEST(HostileClient, AConnectionThatSendsNothingIsClosedAfterTheFirstRequestTimeout) {
  TestServer server([](Config& config) { config.http.first_request_timeout_ms = 200; });
  HttpClient silent(server.port(), std::chrono::seconds(3));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(silent.closed_by_peer());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  // Keep-alive connections that have sent a request keep the longer idle timeout.
  HttpClient talking(server.port(), std::chrono::milliseconds(600));
  EXPECT_EQ(talking.request("GET", "/healthz").status, 200u);
  EXPECT_FALSE(talking.closed_by_peer()) << "idle timeout is 60 s, not the first-request one";
}

// This process's resident memory (the server is in-process), from /proc.
std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t total_pages = 0, resident_pages = 0;
  statm >> total_pages >> resident_pages;
  return resident_pages * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

// Blob bytes that are not all alike.
std::string blob_of(std::size_t size) {
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7919 >> 3);
  return bytes;
}

// Stores `bytes` as the server's local blob store does; its key.
std::string put_blob(TestServer& server, const std::string& bytes) {
  std::string key = media::blob_key(bytes, "png");
  const auto path = std::filesystem::path(server.blob_path(key));
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
  return key;
}

// A small receive buffer, so that the kernel cannot take a large body off the server's hands.
void shrink_receive_buffer(HttpClient& c) {
  const int rcvbuf = 64 * 1024;
  ::setsockopt(c.native_handle(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
}

// Finding 4, second half: GET /media loaded the whole blob and kept it (the handler's copy and the
// write buffer's) until the client had taken it: 40 slow readers of a 10.8 MB PNG held 700 MB.
// The body is now streamed in media::kBlobChunk pieces, so a reader holds one piece. 40 clients
// ask for a 10 MiB blob and read nothing; the server's memory must grow by far less than one
// blob per reader, and the write timeout must close them.
TEST(HostileClient, SlowReadersOfALargeBlobHoldAChunkEachNotTheBlob) {
  constexpr int kReaders = 40;
  constexpr std::size_t kBlobBytes = 10 << 20;
  TestServer server([](Config& config) { config.http.write_timeout_ms = 1000; });
  std::string key;
  {
    const std::string bytes = blob_of(kBlobBytes);
    key = put_blob(server, bytes);
    // Whole, with the headers of an immutable blob, to a reader that takes it.
    HttpClient c(server.port());
    const auto whole = c.request("GET", "/media/" + key);
    ASSERT_EQ(whole.status, 200u);
    EXPECT_TRUE(whole.body == bytes) << whole.body.size() << " bytes";
    EXPECT_EQ(whole.header("content-length"), std::to_string(kBlobBytes));
    EXPECT_EQ(whole.header("etag"), "\"" + key.substr(0, 64) + "\"");
    EXPECT_EQ(whole.header("x-content-type-options"), "nosniff");
  }
  std::vector<std::unique_ptr<HttpClient>> readers;
  for (int i = 0; i < kReaders; ++i) {
    readers.push_back(std::make_unique<HttpClient>(server.port(), std::chrono::seconds(15)));
    shrink_receive_buffer(*readers.back());
  }
  const std::size_t before = resident_bytes();
  for (auto& r : readers) r->send("GET /media/" + key + " HTTP/1.1\r\nHost: t\r\n\r\n");
  // Every reader has its head (so the server has started on every body); the peak on the way.
  std::size_t peak = before;
  const bool answered = eventually([&] {
    peak = std::max(peak, resident_bytes());
    return std::all_of(readers.begin(), readers.end(), [](auto& r) { return readable(*r, 0); });
  });
  ASSERT_TRUE(answered);
  // Until the write timeout closes them, the server holds what it holds now.
  ASSERT_TRUE(eventually(
      [&] {
        peak = std::max(peak, resident_bytes());
        return server.server().connections() == 0;
      },
      std::chrono::seconds(20)))
      << server.server().connections() << " readers still open after the 1 s write timeout";
  const double growth_mb = static_cast<double>(peak - before) / 1e6;
  std::cout << kReaders << " slow readers of a " << kBlobBytes / 1e6
            << " MB blob: resident memory grew by " << growth_mb << " MB\n";
#ifdef __SANITIZE_ADDRESS__
  // ASan keeps freed memory in its quarantine (256 MB) and shadows every byte: resident memory
  // says nothing about what the server holds. The normal build checks the bound.
  std::cout << "(the bound is not checked under AddressSanitizer)\n";
#else
  EXPECT_LT(growth_mb, 60) << "one 10 MB blob per reader would be " << kReaders * 10 << " MB";
#endif
  for (auto& r : readers) EXPECT_TRUE(r->closed_by_peer());
}

// The head of a streamed body is out before its last chunk is read: a blob removed meanwhile can
// only end the connection, and the client sees a body shorter than its Content-Length (possibly
// none of it, when the removal wins the race with the first chunk's read).
TEST(HostileClient, ABlobRemovedWhileStreamedEndsTheConnectionShortOfItsLength) {
  constexpr std::size_t kBlobBytes = 10 << 20;
  TestServer server;
  const std::string key = put_blob(server, blob_of(kBlobBytes));
  HttpClient c(server.port());
  shrink_receive_buffer(c);
  c.send("GET /media/" + key + " HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(eventually([&] { return readable(c, 0); }));
  std::filesystem::remove(server.blob_path(key));
  std::string raw;
  char buf[64 * 1024];
  for (;;) {  // until the server closes (or the client's 10 s receive timeout)
    const ssize_t n = ::recv(c.native_handle(), buf, sizeof buf, 0);
    if (n <= 0) {
      EXPECT_EQ(n, 0) << "not closed by the server: " << std::strerror(errno);
      break;
    }
    raw.append(buf, static_cast<std::size_t>(n));
  }
  ASSERT_NE(raw.find("Content-Length: " + std::to_string(kBlobBytes) + "\r\n"), std::string::npos)
      << raw.substr(0, 300);
  const auto body = raw.size() - (raw.find("\r\n\r\n") + 4);
  EXPECT_LT(body, kBlobBytes);
}

// Low findings: a 5xx body carried internal text (libpq's host and port); an error body echoed
// raw bytes into JSON (invalid UTF-8 that a strict client cannot parse).
TEST(HostileClient, A503SaysNothingInternalAndPointsAtTheRequestId) {
  TestServer server;
  server.gate().fail_reads(
      Error{Errc::unavailable, "postgres: connection to server at \"10.9.8.7\", port 5432 failed"});
  HttpClient c(server.port());
  const auto r = c.request("GET", "/users/3");
  expect_error(r, 503, "unavailable");
  EXPECT_EQ(r.body.find("10.9.8.7"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("postgres"), std::string::npos) << r.body;
  EXPECT_FALSE(r.header("x-request-id").empty());
  EXPECT_EQ(r.header("retry-after"), "1");
}

TEST(HostileClient, ErrorBodiesAreValidUtf8WhateverThePathHolds) {
  TestServer server;
  HttpClient c(server.port());
  const auto r = c.request("GET", "/caf\xC3\xA9/\xFF\xFE\xC0\xAF");
  ASSERT_EQ(r.status, 404u);
  const auto v = boost::json::parse(r.body);  // throws on invalid UTF-8
  const std::string message(v.at("error").at("message").as_string());
  EXPECT_NE(message.find("/caf\xC3\xA9/\xEF\xBF\xBD"), std::string::npos) << message;
  EXPECT_EQ(r.header("x-content-type-options"), "nosniff");
}

}  // namespace
}  // namespace ztm
