#include "tests/support/registry_fixture.h"

#include <arpa/inet.h>
#include <crypt.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

namespace strata::testing {
namespace {

// A port nobody listens on now (the kernel's choice for port 0).
int FreePort() {
  const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = -1;
  if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(s);
  return port;
}

bool Accepts(int port) {
  const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(s);
  return ok;
}

}  // namespace

LoopbackRegistry::LoopbackRegistry(const std::string& dir, const std::string& user,
                                   const std::string& password) {
  std::string auth;
  if (!user.empty()) {
    char* salt = ::crypt_gensalt("$2b$", 10, nullptr, 0);
    const char* hash = salt ? ::crypt(password.c_str(), salt) : nullptr;
    if (hash == nullptr || hash[0] == '*') {
      error_ = "bcrypt is not available for the htpasswd file";
      return;
    }
    std::ofstream(dir + "/htpasswd") << user << ":" << hash << "\n";
    auth = "auth:\n  htpasswd:\n    realm: strata-test\n    path: " + dir + "/htpasswd\n";
  }
  Start(dir, auth);
}

LoopbackRegistry::LoopbackRegistry(const std::string& dir, const TokenAuth& token) {
  Start(dir, "auth:\n  token:\n    realm: " + token.realm + "\n    service: " + token.service +
                 "\n    issuer: " + token.issuer + "\n    rootcertbundle: " + token.rootcertbundle +
                 "\n");
}

void LoopbackRegistry::Start(const std::string& dir, const std::string& auth_config) {
  if (::access(kDockerRegistry, X_OK) != 0) {
    error_ = std::string(kDockerRegistry) + " is not installed (scripts/install-deps)";
    return;
  }
  const int port = FreePort();
  host_ = "127.0.0.1:" + std::to_string(port);
  log_path_ = dir + "/registry.log";
  std::ostringstream config;
  config << "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n"
         << "storage:\n  filesystem:\n    rootdirectory: " << dir << "/data\n"
         << "  delete:\n    enabled: true\n"
         << "http:\n  addr: " << host_ << "\n"
         << auth_config;
  std::ofstream(dir + "/config.yml") << config.str();
  const int log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(log, STDOUT_FILENO);
    ::dup2(log, STDERR_FILENO);
    const std::string cfg = dir + "/config.yml";
    ::execl(kDockerRegistry, kDockerRegistry, "serve", cfg.c_str(), nullptr);
    ::_exit(127);
  }
  ::close(log);
  for (int i = 0; i < 200 && pid_ > 0; ++i) {  // up to 10 s
    if (Accepts(port)) {
      ok_ = true;
      return;
    }
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  error_ = "docker-registry did not start: " + Log();
}

LoopbackRegistry::~LoopbackRegistry() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

std::string LoopbackRegistry::Log() const {
  std::ifstream in(log_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int LoopbackRegistry::Requests(const std::string& method, const std::string& part) const {
  // Access log lines: 127.0.0.1 - - [date] "GET /v2/... HTTP/1.1" 200 ...
  std::istringstream lines(Log());
  int n = 0;
  for (std::string line; std::getline(lines, line);) {
    const size_t q = line.find("\"" + method + " ");
    if (q != std::string::npos && line.find(part, q) != std::string::npos) ++n;
  }
  return n;
}

}  // namespace strata::testing
