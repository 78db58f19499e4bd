// A scripted HTTP/1.1 server on 127.0.0.1 (a free port) for tests of the registry transport:
// each request is answered by a handler, which can also misbehave (drop the connection in the
// middle of a body, lie about its length). One connection at a time, closed after each reply.
// The serving thread is stopped and joined when the object goes.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace strata::testing {

struct SeenRequest {
  std::string method, path;                    // path with its query
  std::map<std::string, std::string> headers;  // names lowercased
  size_t body_bytes = 0;
};

struct ScriptedReply {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Send only this many bytes of BODY (Content-Length still says all of it), then close.
  size_t send_only = static_cast<size_t>(-1);
};

class ScriptedServer {
 public:
  explicit ScriptedServer(std::function<ScriptedReply(const SeenRequest&)> handler);
  ~ScriptedServer();
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  bool ok() const { return listen_fd_ >= 0; }
  const std::string& host() const { return host_; }  // "127.0.0.1:PORT"
  std::vector<SeenRequest> Seen() const;

 private:
  void Serve();
  void Answer(int fd);

  std::function<ScriptedReply(const SeenRequest&)> handler_;
  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  std::string host_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<SeenRequest> seen_;
};

}  // namespace strata::testing
