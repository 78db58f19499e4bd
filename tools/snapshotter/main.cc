// strata-snapshotter: a containerd proxy snapshotter on stratafs. Serves
// containerd.services.snapshots.v1.Snapshots on a unix socket (snapshot_service.h), keeps its
// snapshots under --root (snapshot_store.h) and serves layers the strata store already holds
// without fetching or unpacking them (from_store.h). Ready when the socket listens (and
// READY=1 is sent to $NOTIFY_SOCKET under systemd); SIGTERM or SIGINT stop it cleanly.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "layerstore/digest.h"
#include "layerstore/snapshots/snapshot_store.h"
#include "tools/snapshotter/snapshot_service.h"

namespace {

std::string DefaultStore() {
  if (const char* env = std::getenv("STRATA_ROOT"); env && *env) return env;
  return "/var/lib/strata";
}

// sd_notify(3)'s protocol, without libsystemd: one datagram to $NOTIFY_SOCKET.
void NotifyReady() {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path) return;
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const size_t len = std::min(std::strlen(path), sizeof(addr.sun_path) - 1);
  std::memcpy(addr.sun_path, path, len);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  const char msg[] = "READY=1";
  ::sendto(fd, msg, sizeof msg - 1, 0, reinterpret_cast<sockaddr*>(&addr),
           static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len));
  ::close(fd);
}

bool MakeParents(const std::string& path) {
  for (size_t pos = path.find('/', 1); pos != std::string::npos; pos = path.find('/', pos + 1)) {
    const std::string dir = path.substr(0, pos);
    if (::mkdir(dir.c_str(), 0711) != 0 && errno != EEXIST) return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"strata-snapshotter: a containerd proxy snapshotter on stratafs"};
  app.set_version_flag("-V,--version", "strata-snapshotter " STRATA_VERSION);
  std::string address = "/run/strata/snapshotter.sock";
  std::string store_root = DefaultStore();
  std::string root;
  std::string mount_type = "fuse3.stratafs";
  bool no_store = false;
  app.add_option("--address", address, "unix socket to serve on (default " + address + ")");
  app.add_option("--root", root, "snapshot directory (default: STORE/snapshotter)");
  app.add_option("--store", store_root,
                 "the strata store whose layers serve containerd without unpacking (default: "
                 "$STRATA_ROOT, else /var/lib/strata)");
  app.add_flag("--no-store", no_store, "never serve layers from the strata store");
  app.add_option("--mount-type", mount_type,
                 "mount type of stacked snapshots (default fuse3.stratafs: containerd runs "
                 "mount.fuse3, which runs stratafs from PATH)");
  CLI11_PARSE(app, argc, argv);
  if (root.empty()) root = store_root + "/snapshotter";

  auto snapshots = strata::store::SnapshotStore::Open(root, mount_type);
  if (!snapshots) {
    std::fprintf(stderr, "strata-snapshotter: %s\n", snapshots.error().Message().c_str());
    return 1;
  }
  if (auto cleaned = (*snapshots)->Cleanup(); cleaned && *cleaned > 0) {
    std::fprintf(stderr, "strata-snapshotter: removed %zu unrecorded snapshot directories\n",
                 *cleaned);
  }
  const std::string hold = "snapshotter-" + strata::store::Sha256Of(root).encoded.substr(0, 12);
  strata::cli::SnapshotService service(**snapshots, no_store ? "" : store_root, hold);

  if (!MakeParents(address)) {
    std::fprintf(stderr, "strata-snapshotter: cannot create the directory of %s: %s\n",
                 address.c_str(), std::strerror(errno));
    return 1;
  }
  struct stat st;
  if (::lstat(address.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      std::fprintf(stderr, "strata-snapshotter: %s exists and is not a socket\n", address.c_str());
      return 1;
    }
    ::unlink(address.c_str());  // a stale socket of an earlier run
  }
  // Signals are taken by a thread of their own that shuts the server down.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + address, grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) {
    std::fprintf(stderr, "strata-snapshotter: cannot serve on %s\n", address.c_str());
    return 1;
  }
  ::chmod(address.c_str(), 0660);
  std::fprintf(stderr, "strata-snapshotter: serving on %s (snapshots in %s)\n", address.c_str(),
               root.c_str());
  NotifyReady();
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&stop, &sig);
    std::fprintf(stderr, "strata-snapshotter: stopping (%s)\n", strsignal(sig));
    server->Shutdown();
  });
  server->Wait();
  waiter.join();
  ::unlink(address.c_str());
  return 0;
}
