#include "tools/snapshotter/snapshot_service.h"

#include <cstdio>

#include "layerstore/snapshots/from_store.h"

namespace strata::cli {
namespace {

using store::SnapshotInfo;
using store::SnapshotKind;
using store::SnapshotMount;

grpc::Status ToGrpc(const Error& e) {
  grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
  switch (e.code) {
    case ENOENT: code = grpc::StatusCode::NOT_FOUND; break;
    case EEXIST: code = grpc::StatusCode::ALREADY_EXISTS; break;
    case EINVAL: code = grpc::StatusCode::INVALID_ARGUMENT; break;
    case EBUSY: code = grpc::StatusCode::FAILED_PRECONDITION; break;
    default: break;
  }
  return grpc::Status(code, e.Message());
}

template <typename Response>
void AddMounts(const std::vector<SnapshotMount>& mounts, Response* response) {
  for (const SnapshotMount& m : mounts) {
    auto* out = response->add_mounts();
    out->set_type(m.type);
    out->set_source(m.source);
    for (const std::string& o : m.options) out->add_options(o);
  }
}

std::map<std::string, std::string> Labels(const google::protobuf::Map<std::string, std::string>& in) {
  return {in.begin(), in.end()};
}

void SetTime(int64_t ns, google::protobuf::Timestamp* t) {
  t->set_seconds(ns / 1000000000);
  t->set_nanos(static_cast<int32_t>(ns % 1000000000));
}

void ToInfo(const SnapshotInfo& s, snapshots_v1::Info* out) {
  out->set_name(s.name);
  out->set_parent(s.parent);
  out->set_kind(s.kind == SnapshotKind::kView     ? snapshots_v1::VIEW
                : s.kind == SnapshotKind::kActive ? snapshots_v1::ACTIVE
                                                  : snapshots_v1::COMMITTED);
  SetTime(s.created_ns, out->mutable_created_at());
  SetTime(s.updated_ns, out->mutable_updated_at());
  for (const auto& [k, v] : s.labels) (*out->mutable_labels())[k] = v;
}

}  // namespace

grpc::Status SnapshotService::Prepare(grpc::ServerContext*,
                                      const snapshots_v1::PrepareSnapshotRequest* request,
                                      snapshots_v1::PrepareSnapshotResponse* response) {
  const auto labels = Labels(request->labels());
  if (auto ref = labels.find(store::kSnapshotRefLabel); ref != labels.end() && !store_root_.empty()) {
    auto served = store::PrepareFromStore(snapshots_, store_root_, hold_, ref->second,
                                          request->parent(), labels);
    if (!served) {
      std::fprintf(stderr, "strata snapshotter: %s (preparing normally)\n",
                   served.error().Message().c_str());
    } else if (*served) {
      return grpc::Status(grpc::StatusCode::ALREADY_EXISTS,
                          "target snapshot " + ref->second + " is in the strata store");
    }
  }
  auto mounts = snapshots_.Prepare(request->key(), request->parent(), labels, /*view=*/false);
  if (!mounts) return ToGrpc(mounts.error());
  AddMounts(*mounts, response);
  return grpc::Status::OK;
}

grpc::Status SnapshotService::View(grpc::ServerContext*,
                                   const snapshots_v1::ViewSnapshotRequest* request,
                                   snapshots_v1::ViewSnapshotResponse* response) {
  auto mounts = snapshots_.Prepare(request->key(), request->parent(), Labels(request->labels()),
                                   /*view=*/true);
  if (!mounts) return ToGrpc(mounts.error());
  AddMounts(*mounts, response);
  return grpc::Status::OK;
}

grpc::Status SnapshotService::Mounts(grpc::ServerContext*,
                                     const snapshots_v1::MountsRequest* request,
                                     snapshots_v1::MountsResponse* response) {
  auto mounts = snapshots_.Mounts(request->key());
  if (!mounts) return ToGrpc(mounts.error());
  AddMounts(*mounts, response);
  return grpc::Status::OK;
}

grpc::Status SnapshotService::Commit(grpc::ServerContext*,
                                     const snapshots_v1::CommitSnapshotRequest* request,
                                     google::protobuf::Empty*) {
  Status s = snapshots_.Commit(request->name(), request->key(), Labels(request->labels()));
  return s ? grpc::Status::OK : ToGrpc(s.error());
}

grpc::Status SnapshotService::Remove(grpc::ServerContext*,
                                     const snapshots_v1::RemoveSnapshotRequest* request,
                                     google::protobuf::Empty*) {
  auto info = snapshots_.Stat(request->key());
  Status s = snapshots_.Remove(request->key());
  if (!s) {
    std::fprintf(stderr, "strata snapshotter: remove %s: %s\n", request->key().c_str(),
                 s.error().Message().c_str());
    return ToGrpc(s.error());
  }
  if (info && !info->external.empty() && !store_root_.empty()) {
    if (Status held = store::RefreshHold(snapshots_, store_root_, hold_); !held) {
      std::fprintf(stderr, "strata snapshotter: %s\n", held.error().Message().c_str());
    }
  }
  return grpc::Status::OK;
}

grpc::Status SnapshotService::Stat(grpc::ServerContext*,
                                   const snapshots_v1::StatSnapshotRequest* request,
                                   snapshots_v1::StatSnapshotResponse* response) {
  auto info = snapshots_.Stat(request->key());
  if (!info) return ToGrpc(info.error());
  ToInfo(*info, response->mutable_info());
  return grpc::Status::OK;
}

grpc::Status SnapshotService::Update(grpc::ServerContext*,
                                     const snapshots_v1::UpdateSnapshotRequest* request,
                                     snapshots_v1::UpdateSnapshotResponse* response) {
  SnapshotInfo info;
  info.name = request->info().name();
  info.labels = Labels(request->info().labels());
  std::vector<std::string> fields(request->update_mask().paths().begin(),
                                  request->update_mask().paths().end());
  auto updated = snapshots_.Update(info, fields);
  if (!updated) return ToGrpc(updated.error());
  ToInfo(*updated, response->mutable_info());
  return grpc::Status::OK;
}

grpc::Status SnapshotService::List(grpc::ServerContext*,
                                   const snapshots_v1::ListSnapshotsRequest*,
                                   grpc::ServerWriter<snapshots_v1::ListSnapshotsResponse>* writer) {
  // Filters are not applied: containerd checks what it walks (metadata/snapshot.go).
  snapshots_v1::ListSnapshotsResponse batch;
  for (const SnapshotInfo& s : snapshots_.List()) {
    ToInfo(s, batch.add_info());
    if (batch.info_size() == 100) {
      if (!writer->Write(batch)) return grpc::Status::CANCELLED;
      batch.Clear();
    }
  }
  if (batch.info_size() > 0 && !writer->Write(batch)) return grpc::Status::CANCELLED;
  return grpc::Status::OK;
}

grpc::Status SnapshotService::Usage(grpc::ServerContext*,
                                    const snapshots_v1::UsageRequest* request,
                                    snapshots_v1::UsageResponse* response) {
  auto usage = snapshots_.Usage(request->key());
  if (!usage) return ToGrpc(usage.error());
  response->set_size(usage->size);
  response->set_inodes(usage->inodes);
  return grpc::Status::OK;
}

grpc::Status SnapshotService::Cleanup(grpc::ServerContext*, const snapshots_v1::CleanupRequest*,
                                      google::protobuf::Empty*) {
  auto removed = snapshots_.Cleanup();
  return removed ? grpc::Status::OK : ToGrpc(removed.error());
}

}  // namespace strata::cli
