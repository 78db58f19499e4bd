// containerd.services.snapshots.v1.Snapshots over a SnapshotStore: the gRPC glue of
// `strata snapshotter` (the only code that sees gRPC or protobuf). Errors are containerd's
// codes (errdefs): ENOENT NOT_FOUND, EEXIST ALREADY_EXISTS, EINVAL INVALID_ARGUMENT, EBUSY
// FAILED_PRECONDITION, anything else UNKNOWN, each with the message. Thread-safe (the store
// is).
#pragma once

#include <string>

#include "github.com/containerd/containerd/api/services/snapshots/v1/snapshots.grpc.pb.h"
#include "layerstore/snapshots/snapshot_store.h"

namespace strata::cli {

namespace snapshots_v1 = ::containerd::services::snapshots::v1;

class SnapshotService final : public snapshots_v1::Snapshots::Service {
 public:
  // STORE_ROOT: the strata store whose layers serve prepares labelled with a chain it has
  // (from_store.h); empty: none. HOLD names this snapshotter's hold there.
  SnapshotService(store::SnapshotStore& snapshots, std::string store_root, std::string hold)
      : snapshots_(snapshots), store_root_(std::move(store_root)), hold_(std::move(hold)) {}

  grpc::Status Prepare(grpc::ServerContext*, const snapshots_v1::PrepareSnapshotRequest* request,
                       snapshots_v1::PrepareSnapshotResponse* response) override;
  grpc::Status View(grpc::ServerContext*, const snapshots_v1::ViewSnapshotRequest* request,
                    snapshots_v1::ViewSnapshotResponse* response) override;
  grpc::Status Mounts(grpc::ServerContext*, const snapshots_v1::MountsRequest* request,
                      snapshots_v1::MountsResponse* response) override;
  grpc::Status Commit(grpc::ServerContext*, const snapshots_v1::CommitSnapshotRequest* request,
                      google::protobuf::Empty*) override;
  grpc::Status Remove(grpc::ServerContext*, const snapshots_v1::RemoveSnapshotRequest* request,
                      google::protobuf::Empty*) override;
  grpc::Status Stat(grpc::ServerContext*, const snapshots_v1::StatSnapshotRequest* request,
                    snapshots_v1::StatSnapshotResponse* response) override;
  grpc::Status Update(grpc::ServerContext*, const snapshots_v1::UpdateSnapshotRequest* request,
                      snapshots_v1::UpdateSnapshotResponse* response) override;
  grpc::Status List(grpc::ServerContext*, const snapshots_v1::ListSnapshotsRequest* request,
                    grpc::ServerWriter<snapshots_v1::ListSnapshotsResponse>* writer) override;
  grpc::Status Usage(grpc::ServerContext*, const snapshots_v1::UsageRequest* request,
                     snapshots_v1::UsageResponse* response) override;
  grpc::Status Cleanup(grpc::ServerContext*, const snapshots_v1::CleanupRequest* request,
                       google::protobuf::Empty*) override;

 private:
  store::SnapshotStore& snapshots_;
  const std::string store_root_;
  const std::string hold_;
};

}  // namespace strata::cli
