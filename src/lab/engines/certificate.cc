#include "lab/engines/certificate.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "lab/process.h"
#include "lab/template.h"

namespace ztm::lab {

namespace {

constexpr const char* kOpenssl = "/usr/bin/openssl";

}  // namespace

std::string make_certificate(const std::string& engine, const std::string& workdir,
                             const std::string& name, const std::string& address) {
  if (::access(kOpenssl, X_OK) != 0)
    throw std::runtime_error(engine + ": no /usr/bin/openssl: install openssl");
  const std::string base = workdir + "/" + name;
  const std::string log = workdir + "/openssl.log";
  Launch req{.argv = {kOpenssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                      "-subj", "/CN=" + address, "-addext", "subjectAltName=IP:" + address,
                      "-keyout", base + ".key", "-out", base + ".crt"},
             .workdir = workdir,
             .log = log};
  if (run(req, std::chrono::seconds(30)) != 0)
    throw std::runtime_error(engine + ": openssl failed (" + log + "):\n" + tail(log, 10));
  std::ifstream key(base + ".key"), crt(base + ".crt");
  std::stringstream both;
  both << crt.rdbuf() << key.rdbuf();
  // The private key, alone and in the .pem, for root only: HAProxy reads it before it drops
  // to user haproxy.
  write_file(base + ".pem", both.str(), 0600);
  if (::chmod((base + ".key").c_str(), 0600) != 0)
    throw std::runtime_error(engine + ": chmod " + base + ".key failed");
  return base + ".pem";
}

}  // namespace ztm::lab
