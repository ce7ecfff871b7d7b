// http_core: ztm's HTTP server (src/http) with a handler that builds, for every request, an answer
// given as files: a body and the header lines of a response (as `curl -D` saves them; the lines
// the server writes itself, such as Date and Content-Length, are skipped). Built the way the API
// builds its answers (set_body, then header by header), and nothing else is done: no routing, no
// cache lookup, no request id or trace, no metrics. What the HTTP layer costs by itself;
// bench/http_hot_path.sh runs it with ztm's own answer to GET /users/12 beside ztm and nginx
// `return`, so that ztm's gap to nginx splits into the server's part and the API's (issue 12).
//
//   http_core --port 18185 --body users-12.json --head users-12.head [--threads 1]

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "http/server.h"

namespace {

// The header lines of `head` (a response head as curl -D saves it) that a handler adds: all but
// the status line and those ztm::http::serialize writes itself.
std::vector<std::pair<std::string, std::string>> added_headers(std::ifstream& head) {
  const std::vector<std::string> own = {"server",       "x-content-type-options", "date",
                                        "content-type", "content-length",         "connection"};
  std::vector<std::pair<std::string, std::string>> headers;
  std::string line;
  std::getline(head, line);  // the status line
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon), lower = name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (std::find(own.begin(), own.end(), lower) != own.end()) continue;
    const auto value = line.find_first_not_of(' ', colon + 1);
    headers.emplace_back(name, value == std::string::npos ? "" : line.substr(value));
  }
  return headers;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ztm's HTTP server answering one canned response (benchmark peer)"};
  unsigned short port = 0;
  std::string body_path, head_path;
  int threads = 1;
  app.add_option("--port", port, "port on 127.0.0.1")->required();
  app.add_option("--body", body_path, "file with the body to answer")->required();
  app.add_option("--head", head_path, "file with the response head whose header lines to add")
      ->required();
  app.add_option("--threads", threads, "event loops")->check(CLI::Range(1, 64));
  CLI11_PARSE(app, argc, argv);

  std::ifstream in(body_path, std::ios::binary);
  const std::string body{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  std::ifstream head_in(head_path);
  if (!in.is_open() || !head_in.is_open()) {
    std::fprintf(stderr, "cannot read %s or %s\n", body_path.c_str(), head_path.c_str());
    return 1;
  }
  const auto headers = added_headers(head_in);

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);  // the loops' threads inherit the mask

  ztm::http::ServerOptions options;
  options.port = port;
  options.threads = threads;
  options.max_connections_per_address = 100'000;
  ztm::http::Server server(options, [&](ztm::http::Request&) -> ztm::http::Answer {
    ztm::http::Response res;
    res.set_body(body);
    for (const auto& [name, value] : headers) res.header(name, value);
    return res;
  });
  server.start();
  std::printf("http_core: listening on http://127.0.0.1:%u\n", server.port());
  std::fflush(stdout);
  int signal = 0;
  sigwait(&stop_signals, &signal);
  server.stop();
}
