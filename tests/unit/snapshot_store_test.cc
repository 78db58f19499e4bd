// The containerd snapshotter's metadata and mounts (layerstore/snapshots/), with no containerd:
// containerd's semantics and error kinds, the mounts each kind of snapshot gets, crash-safe
// reopening, and layers of a strata store served as committed snapshots (and held there).
#include "layerstore/snapshots/snapshot_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <thread>

#include "layerstore/snapshots/from_store.h"
#include "layerstore/snapshots/snapshot_report.h"
#include "layerstore/store.h"
#include "tests/support/temp_dir.h"

namespace strata::store {
namespace {

using testing::TempDir;

std::unique_ptr<SnapshotStore> OpenStore(const std::string& root) {
  auto s = SnapshotStore::Open(root, "fuse3.stratafs");
  EXPECT_TRUE(s) << s.error().Message();
  return s ? std::move(*s) : nullptr;
}

TEST(SnapshotStoreTest, PrepareCommitViewAndTheirMounts) {
  TempDir dir;
  auto s = OpenStore(dir / "snap");
  auto base = s->Prepare("base-active", "", {{"a", "1"}}, false);
  ASSERT_TRUE(base) << base.error().Message();
  ASSERT_EQ(base->size(), 1u);
  EXPECT_EQ((*base)[0].type, "bind") << "no parent: the directory itself";
  EXPECT_EQ((*base)[0].options, (std::vector<std::string>{"rw", "rbind"}));
  ASSERT_TRUE(s->Commit("base", "base-active", {}));
  EXPECT_FALSE(s->Stat("base-active"));
  auto info = s->Stat("base");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->kind, SnapshotKind::kCommitted);
  EXPECT_EQ(info->labels.at("a"), "1") << "labels kept when the commit gives none";

  ASSERT_TRUE(s->Prepare("mid-active", "base", {}, false));
  ASSERT_TRUE(s->Commit("mid", "mid-active", {{"b", "2"}}));
  auto top = s->Prepare("top", "mid", {}, false);
  ASSERT_TRUE(top);
  ASSERT_EQ(top->size(), 1u);
  const SnapshotMount& m = (*top)[0];
  EXPECT_EQ(m.type, "fuse3.stratafs");
  EXPECT_EQ(m.source, "overlay");
  ASSERT_EQ(m.options.size(), 3u);
  const std::string snaps = dir / "snap/snapshots/";
  EXPECT_EQ(m.options[0], "lowerdir=" + snaps + "2/fs:" + snaps + "1/fs") << "topmost first";
  EXPECT_EQ(m.options[1], "upperdir=" + snaps + "3/fs");
  EXPECT_EQ(m.options[2], "workdir=" + snaps + "3/work");
  auto again = s->Mounts("top");
  ASSERT_TRUE(again);
  EXPECT_EQ((*again)[0].options, m.options);

  auto one = s->Prepare("v1", "base", {}, true);
  ASSERT_TRUE(one);
  EXPECT_EQ((*one)[0].type, "bind") << "a view of one layer is a read-only bind";
  EXPECT_EQ((*one)[0].source, snaps + "1/fs");
  EXPECT_EQ((*one)[0].options[0], "ro");
  auto two = s->Prepare("v2", "mid", {}, true);
  ASSERT_TRUE(two);
  EXPECT_EQ((*two)[0].options,
            (std::vector<std::string>{"lowerdir=" + snaps + "2/fs:" + snaps + "1/fs"}));
  EXPECT_EQ(s->List().size(), 5u);
}

TEST(SnapshotStoreTest, ContainerdsErrors) {
  TempDir dir;
  auto s = OpenStore(dir / "snap");
  ASSERT_TRUE(s->Prepare("a", "", {}, false));
  auto dup = s->Prepare("a", "", {}, false);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, EEXIST);
  auto no_parent = s->Prepare("b", "nope", {}, false);
  ASSERT_FALSE(no_parent);
  EXPECT_EQ(no_parent.error().code, ENOENT);
  auto active_parent = s->Prepare("b", "a", {}, false);
  ASSERT_FALSE(active_parent);
  EXPECT_EQ(active_parent.error().code, EINVAL) << "a parent must be committed";
  ASSERT_TRUE(s->Commit("a-done", "a", {}));
  EXPECT_EQ(s->Commit("x", "a", {}).error().code, ENOENT) << "the active key is gone";
  auto twice = s->Commit("x", "a-done", {});
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code, EBUSY) << "a committed snapshot does not commit again";
  ASSERT_TRUE(s->Prepare("view", "a-done", {}, true));
  auto view_commit = s->Commit("y", "view", {});
  ASSERT_FALSE(view_commit);
  EXPECT_EQ(view_commit.error().code, EBUSY) << "only active snapshots commit";
  auto committed_mounts = s->Mounts("a-done");
  ASSERT_FALSE(committed_mounts);
  EXPECT_EQ(committed_mounts.error().code, EBUSY);
  auto busy = s->Remove("a-done");
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code, EBUSY) << "it has a child";
  ASSERT_TRUE(s->Remove("view"));
  ASSERT_TRUE(s->Remove("a-done"));
  EXPECT_EQ(s->Remove("a-done").error().code, ENOENT);
  EXPECT_EQ(s->Usage("nope").error().code, ENOENT);
}

TEST(SnapshotStoreTest, LabelsUpdateByMaskAndUsageCountsTheTree) {
  TempDir dir;
  auto s = OpenStore(dir / "snap");
  ASSERT_TRUE(s->Prepare("a", "", {{"keep", "1"}, {"drop", "2"}}, false));
  SnapshotInfo change;
  change.name = "a";
  change.labels = {{"new", "3"}};
  auto updated = s->Update(change, {"labels.new", "labels.drop"});
  ASSERT_TRUE(updated);
  EXPECT_EQ(updated->labels, (std::map<std::string, std::string>{{"keep", "1"}, {"new", "3"}}));
  EXPECT_EQ(s->Update(change, {"parent"}).error().code, EINVAL) << "only labels change";
  auto all = s->Update(change, {});
  ASSERT_TRUE(all);
  EXPECT_EQ(all->labels, change.labels);

  auto before = s->Usage("a");
  ASSERT_TRUE(before);
  const std::string fs = dir / "snap/snapshots/1/fs";
  ASSERT_EQ(::mkdir((fs + "/d").c_str(), 0755), 0);
  FILE* f = std::fopen((fs + "/d/file").c_str(), "w");
  std::fwrite(std::string(100000, 'x').data(), 1, 100000, f);
  std::fclose(f);
  auto after = s->Usage("a");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->inodes - before->inodes, 2);
  EXPECT_GE(after->size - before->size, 100000);
}

TEST(SnapshotStoreTest, ReopeningShowsEverythingRecordedAndCleanupRemovesTheRest) {
  TempDir dir;
  {
    auto s = OpenStore(dir / "snap");
    ASSERT_TRUE(s->Prepare("a", "", {{"l", "v"}}, false));
    ASSERT_TRUE(s->Commit("A", "a", {}));
    ASSERT_TRUE(s->Prepare("b", "A", {}, false));
  }
  // A directory a crash left between creating it and recording it.
  ASSERT_EQ(::mkdir((dir / "snap/snapshots/77").c_str(), 0755), 0);
  auto s = OpenStore(dir / "snap");
  ASSERT_EQ(s->List().size(), 2u);
  auto a = s->Stat("A");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->labels.at("l"), "v");
  EXPECT_EQ(s->Stat("b")->parent, "A");
  auto cleaned = s->Cleanup();
  ASSERT_TRUE(cleaned);
  EXPECT_EQ(*cleaned, 1u);
  EXPECT_NE(::access((dir / "snap/snapshots/77").c_str(), F_OK), 0);
  EXPECT_EQ(::access((dir / "snap/snapshots/2/fs").c_str(), F_OK), 0) << "owned ones stay";
  auto next = s->Prepare("c", "A", {}, false);
  ASSERT_TRUE(next);
  EXPECT_NE((*next)[0].options[1].find("/snapshots/3/fs"), std::string::npos) << "ids not reused";
}

TEST(SnapshotStoreTest, ChainsTheStrataStoreHasAreServedAndHeld) {
  TempDir dir;
  // A strata store with a two-layer image (records and directories as an import leaves them).
  const Digest l1 = Sha256Of("layer one"), l2 = Sha256Of("layer two");
  auto c1 = ChainId({l1});
  auto c2 = ChainId({l1, l2});
  ASSERT_TRUE(c1 && c2);
  {
    auto store = Store::Open(dir / "store", Store::Lock::kShared);
    ASSERT_TRUE(store);
    for (const Digest& d : {l1, l2}) {
      auto work = store->MakeWorkDir();
      ASSERT_TRUE(work);
      ASSERT_TRUE(store->PublishLayer(*work, LayerRecord{d, d, "none", 0, 0, std::nullopt}));
    }
    ImageRecord image;
    image.id = Sha256Of("config");
    image.manifest_digest = Sha256Of("manifest");
    image.diff_ids = {l1, l2};
    image.chain_ids = {*c1, *c2};
    ASSERT_TRUE(store->PutImage(image));
  }
  auto s = OpenStore(dir / "snap");
  // The top layer first: its parent is not the bottom's snapshot yet, so it is not served.
  auto early = PrepareFromStore(*s, dir / "store", "h", c2->String(), "", {});
  ASSERT_TRUE(early);
  EXPECT_FALSE(*early);
  auto bottom = PrepareFromStore(*s, dir / "store", "h", c1->String(), "", {{"x", "y"}});
  ASSERT_TRUE(bottom) << bottom.error().Message();
  EXPECT_TRUE(*bottom);
  auto top = PrepareFromStore(*s, dir / "store", "h", c2->String(), c1->String(), {});
  ASSERT_TRUE(top) << top.error().Message();
  EXPECT_TRUE(*top);
  auto info = s->Stat(c2->String());
  ASSERT_TRUE(info);
  EXPECT_EQ(info->kind, SnapshotKind::kCommitted);
  EXPECT_EQ(info->labels.at(kSnapshotRefLabel), c2->String());
  EXPECT_EQ(s->Stat(c1->String())->labels.at("x"), "y");
  auto unknown = PrepareFromStore(*s, dir / "store", "h", Sha256Of("other").String(), "", {});
  ASSERT_TRUE(unknown);
  EXPECT_FALSE(*unknown);

  // A container on it stacks the store's own layer directories.
  auto mounts = s->Prepare("ctr", c2->String(), {}, false);
  ASSERT_TRUE(mounts);
  EXPECT_EQ((*mounts)[0].options[0], "lowerdir=" + (dir / "store/layers/") + l2.encoded +
                                         "/diff:" + (dir / "store/layers/") + l1.encoded + "/diff");

  // The store keeps held layers through the image's removal and a gc; released, they go.
  {
    auto store = Store::Open(dir / "store", Store::Lock::kExclusive);
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->RemoveImage(Sha256Of("config")));
    ASSERT_TRUE(store->CollectGarbage());
    EXPECT_TRUE(store->HasLayer(l1));
    EXPECT_TRUE(store->HasLayer(l2));
  }
  ASSERT_TRUE(s->Remove("ctr"));
  ASSERT_TRUE(s->Remove(c2->String()));
  ASSERT_TRUE(RefreshHold(*s, dir / "store", "h"));
  {
    auto store = Store::Open(dir / "store", Store::Lock::kExclusive);
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->CollectGarbage());
    EXPECT_TRUE(store->HasLayer(l1)) << "still held by the bottom snapshot";
    EXPECT_FALSE(store->HasLayer(l2));
  }
}

// What strata df and verify show of the snapshotter: counts by kind, the bytes of its own
// layers, layers served from the store (held or not), and what is inconsistent.
TEST(SnapshotStoreTest, TheReportCountsAndChecksTheSnapshots) {
  TempDir dir;
  auto store = Store::Open(dir / "store", Store::Lock::kShared);
  ASSERT_TRUE(store);
  auto none = InspectSnapshots(dir / "store/snapshotter", *store);
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none) << "no snapshotter ran there";

  const Digest layer = Sha256Of("layer");
  auto work = store->MakeWorkDir();
  ASSERT_TRUE(work);
  ASSERT_TRUE(store->PublishLayer(*work, LayerRecord{layer, layer, "none", 0, 0, std::nullopt}));
  auto s = OpenStore(dir / "store/snapshotter");
  ASSERT_TRUE(s->AddExternal("from-store", "", store->LayerDir(layer), {}));
  // The same layer as a snapshotter started with another spelling of the store's root names it.
  ASSERT_TRUE(
      s->AddExternal("spelled", "", dir / ("store/./layers/" + layer.encoded + "/diff"), {}));
  ASSERT_TRUE(s->Prepare("a", "from-store", {}, false));
  ASSERT_TRUE(s->Prepare("b", "", {}, false));
  std::ofstream(dir / "store/snapshotter/snapshots/2/fs/data") << std::string(10000, 'x');
  ASSERT_TRUE(s->Commit("b-done", "b", {}));
  ASSERT_TRUE(s->Prepare("v", "b-done", {}, true));
  ::mkdir((dir / "store/snapshotter/snapshots/99").c_str(), 0700);

  auto report = InspectSnapshots(dir / "store/snapshotter", *store);
  ASSERT_TRUE(report) << report.error().Message();
  ASSERT_TRUE(*report);
  EXPECT_EQ((*report)->committed, 3u);
  EXPECT_EQ((*report)->active, 1u);
  EXPECT_EQ((*report)->views, 1u);
  EXPECT_EQ((*report)->from_store, 2u);
  EXPECT_GE((*report)->own_bytes, 10000);
  EXPECT_EQ((*report)->orphans, 1u);
  ASSERT_EQ((*report)->problems.size(), 2u) << "neither is held yet";
  EXPECT_NE((*report)->problems[0].find("'from-store': its store layer " + store->LayerDir(layer) +
                                        " is not held"),
            std::string::npos)
      << (*report)->problems[0];

  ASSERT_TRUE(RefreshHold(*s, dir / "store", "h"));
  ASSERT_EQ(::rename((dir / "store/snapshotter/snapshots/2").c_str(),
                     (dir / "store/snapshotter/gone").c_str()),
            0);
  report = InspectSnapshots(dir / "store/snapshotter", *store);
  ASSERT_TRUE(report && *report);
  ASSERT_EQ((*report)->problems.size(), 1u) << "held now; b-done's layer is missing";
  EXPECT_NE((*report)->problems[0].find("snapshot 'b-done'"), std::string::npos)
      << (*report)->problems[0];
}

// containerd calls from many goroutines at once: threads preparing, committing, stat'ing,
// listing and removing their own chains on one store leave metadata that reopens to exactly
// what was done, with no directory lost or left behind.
TEST(SnapshotStoreTest, ConcurrentCallersKeepTheMetadataConsistent) {
  TempDir dir;
  auto s = OpenStore(dir / "snap");
  constexpr int kThreads = 4, kRounds = 25;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::string parent;
      for (int r = 0; r < kRounds; ++r) {
        const std::string key = "t" + std::to_string(t) + "-" + std::to_string(r);
        if (!s->Prepare(key + "-active", parent, {{"round", std::to_string(r)}}, false) ||
            !s->Commit(key, key + "-active", {}) || !s->Stat(key) || s->List().empty()) {
          ++failures;
        }
        // A view of the new tip, removed again.
        if (!s->Prepare(key + "-view", key, {}, true) || !s->Remove(key + "-view")) ++failures;
        parent = key;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto reopened = OpenStore(dir / "snap");
  EXPECT_EQ(reopened->List().size(), static_cast<size_t>(kThreads * kRounds));
  auto cleaned = reopened->Cleanup();
  ASSERT_TRUE(cleaned);
  EXPECT_EQ(*cleaned, 0u) << "every directory belongs to a snapshot";
  auto top = reopened->Prepare("top", "t0-" + std::to_string(kRounds - 1), {}, false);
  ASSERT_TRUE(top);
  const std::string lower = (*top)[0].options[0];
  EXPECT_EQ(std::count(lower.begin(), lower.end(), ':'), kRounds - 1) << "the whole chain";
}

}  // namespace
}  // namespace strata::store
