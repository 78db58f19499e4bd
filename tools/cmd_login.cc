// Registry credentials: login and logout, in the auth file podman and skopeo share.
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "layerstore/registry/login.h"
#include "tools/commands.h"

namespace strata::cli {
namespace {

// A line from the terminal, not echoed when SECRET. Empty at end of input.
std::string Ask(const char* prompt, bool secret) {
  std::fprintf(stderr, "%s", prompt);
  termios before{};
  const bool tty = ::isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &before) == 0;
  if (tty && secret) {
    termios quiet = before;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string line;
  std::getline(std::cin, line);
  if (tty && secret) {
    ::tcsetattr(STDIN_FILENO, TCSANOW, &before);
    std::fprintf(stderr, "\n");
  }
  return line;
}

}  // namespace

int Login(const std::string& registry, std::string user, bool password_stdin,
          const std::string& auth_file, bool tls_verify) {
  if (!password_stdin && !::isatty(STDIN_FILENO)) {
    return Report(Error{EINVAL, "login: no terminal to ask the password on (--password-stdin)"});
  }
  if (user.empty()) {
    if (password_stdin) return Report(Error{EINVAL, "login: --password-stdin needs -u USER"});
    user = Ask("Username: ", false);
  }
  std::string password;
  if (password_stdin) {
    std::getline(std::cin, password);
  } else {
    password = Ask("Password: ", true);
  }
  if (user.empty() || password.empty()) {
    return Report(Error{EINVAL, "login: a user name and a password are needed"});
  }
  store::LoginOptions options{tls_verify, auth_file};
  if (Status s = store::Login(registry, {user, password}, options); !s) return Report(s.error());
  std::printf("Login Succeeded!\n");
  return 0;
}

int Logout(const std::string& registry, const std::string& auth_file) {
  store::LoginOptions options;
  options.auth_file = auth_file;
  if (Status s = store::Logout(registry, options); !s) return Report(s.error());
  std::printf("Removed login credentials for %s\n",
              registry.empty() ? "docker.io" : registry.c_str());
  return 0;
}

}  // namespace strata::cli
