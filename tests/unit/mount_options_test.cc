#include "fs/mount_options.h"

#include <gtest/gtest.h>

namespace strata {
namespace {

Result<MountOptions> Parse(std::vector<std::string> args) { return ParseCommandLine(args); }

TEST(MountOptionsTest, FuseOverlayfsCommandLine) {
  auto o = Parse({"-o", "lowerdir=/a:/b,upperdir=/u,workdir=/w", "-o", "volatile", "/mnt"});
  ASSERT_TRUE(o) << o.error().context;
  EXPECT_EQ(o->lowerdirs, (std::vector<std::string>{"/a", "/b"}));
  EXPECT_EQ(o->upperdir, "/u");
  EXPECT_EQ(o->workdir, "/w");
  EXPECT_TRUE(o->is_volatile);
  EXPECT_FALSE(o->fsync);
  EXPECT_EQ(o->mountpoint, "/mnt");
  EXPECT_FALSE(o->read_only);
}

TEST(MountOptionsTest, MountHelperStyleWithSourceAndTrailingOptions) {
  auto o = Parse({"overlay", "/target", "-o", "lowerdir=/l,dev,suid"});
  ASSERT_TRUE(o) << o.error().context;
  EXPECT_EQ(o->source, "overlay");
  EXPECT_EQ(o->mountpoint, "/target");
  EXPECT_TRUE(o->read_only) << "no upperdir: read-only";
  EXPECT_EQ(o->kernel_options, (std::vector<std::string>{"dev", "suid"}));
}

TEST(MountOptionsTest, EscapesQuotesAndEmptyItems) {
  auto o = Parse({"-olowerdir=/a\\:b:/c,,context=\"system_u:object_r:x_t:s0:c1,c2\",,", "m"});
  ASSERT_TRUE(o) << o.error().context;
  EXPECT_EQ(o->lowerdirs, (std::vector<std::string>{"/a:b", "/c"}));
  EXPECT_EQ(o->context, "system_u:object_r:x_t:s0:c1,c2");
  EXPECT_TRUE(o->warnings.empty());
}

TEST(MountOptionsTest, ColonEscapesOfTheKernelAndOfFuseOverlayfs) {
  auto o = Parse({"-o", "lowerdir=/l\\:1:/l\\\\:2:/back\\\\slash", "m"});
  ASSERT_TRUE(o) << o.error().context;
  EXPECT_EQ(o->lowerdirs, (std::vector<std::string>{"/l:1", "/l:2", "/back\\slash"}));
}

TEST(MountOptionsTest, DataOnlyLayers) {
  // The kernel's syntax: "::" before each data-only layer.
  auto o = Parse({"-o", "lowerdir=/a:/b::/data1::/data2", "m"});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->lowerdirs, (std::vector<std::string>{"/a", "/b"}));
  EXPECT_EQ(o->datadirs, (std::vector<std::string>{"/data1", "/data2"}));
  EXPECT_FALSE(Parse({"-o", "lowerdir=/a::/b:/c", "m"})) << "a regular layer after data";
  EXPECT_FALSE(Parse({"-o", "lowerdir=/a:", "m"}));
  EXPECT_FALSE(Parse({"-o", "lowerdir=/a::", "m"}));
}

TEST(MountOptionsTest, AcceptsEveryFuseOverlayfsOption) {
  auto o = Parse({"-o",
                  "lowerdir=/l,uidmapping=0:1000:1:1:100000:65536,gidmapping=0:1000:1,"
                  "squash_to_root,squash_to_uid=5,squash_to_gid=6,static_nlink,noacl,xino=on,"
                  "ino32_t,fsync=0,timeout=2.5,threaded=1,writeback=1,noxattrs=0,"
                  "xattr_permissions=2,redirect_dir=on,metacopy=off,index=off,userxattr,"
                  "allow_other,nosuid,nodev,noexec,noatime,max_write=131072,sync=1",
                  "m"});
  ASSERT_TRUE(o) << o.error().context;
  ASSERT_EQ(o->uid_mappings.size(), 2u);
  EXPECT_EQ(o->uid_mappings[1], (IdMapping{1, 100000, 65536}));
  EXPECT_EQ(o->gid_mappings.size(), 1u);
  EXPECT_TRUE(o->squash_to_root);
  EXPECT_EQ(o->squash_to_uid, 5u);
  EXPECT_EQ(o->squash_to_gid, 6u);
  EXPECT_TRUE(o->static_nlink);
  EXPECT_EQ(o->xino, "on");
  EXPECT_DOUBLE_EQ(o->timeout, 2.5);
  EXPECT_EQ(o->xattr_permissions, 2);
  EXPECT_FALSE(o->metacopy);
  EXPECT_EQ(o->max_write, 131072u);
  EXPECT_TRUE(o->fsync) << "sync=1 came last";
  EXPECT_TRUE(o->warnings.empty()) << o->warnings.front();
  EXPECT_EQ(o->kernel_options,
            (std::vector<std::string>{"allow_other", "nosuid", "nodev", "noexec", "noatime"}));
}

TEST(MountOptionsTest, MetacopyIsOnOrOff) {
  auto on = Parse({"-o", "lowerdir=/l,metacopy=on", "m"});
  ASSERT_TRUE(on) << on.error().context;
  EXPECT_TRUE(on->metacopy);
  auto off = Parse({"-o", "lowerdir=/l,metacopy=on,metacopy=off", "m"});
  ASSERT_TRUE(off) << off.error().context;
  EXPECT_FALSE(off->metacopy);
  auto bad = Parse({"-o", "lowerdir=/l,metacopy=yes", "m"});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().context.find("metacopy=yes"), std::string::npos);
}

TEST(MountOptionsTest, IoUringIsAFlagOrABoolean) {
  auto plain = Parse({"-o", "lowerdir=/l", "m"});
  ASSERT_TRUE(plain);
  EXPECT_TRUE(plain->io_uring) << "used whenever the kernel offers it";
  EXPECT_FALSE(plain->io_uring_asked);
  auto on = Parse({"-o", "lowerdir=/l,io_uring", "m"});
  ASSERT_TRUE(on);
  EXPECT_TRUE(on->io_uring);
  EXPECT_TRUE(on->io_uring_asked);
  EXPECT_TRUE(on->kernel_options.empty()) << "io_uring is the session's, not the kernel's";
  auto off = Parse({"-o", "lowerdir=/l,io_uring,io_uring=0", "m"});
  ASSERT_TRUE(off);
  EXPECT_FALSE(off->io_uring);
  EXPECT_FALSE(off->io_uring_asked);
  EXPECT_FALSE(Parse({"-o", "lowerdir=/l,io_uring=sometimes", "m"}));
}

TEST(MountOptionsTest, PassthroughIsOnUnlessTurnedOff) {
  auto plain = Parse({"-o", "lowerdir=/l", "m"});
  ASSERT_TRUE(plain);
  EXPECT_TRUE(plain->passthrough);
  auto off = Parse({"-o", "lowerdir=/l,passthrough=0", "m"});
  ASSERT_TRUE(off);
  EXPECT_FALSE(off->passthrough);
  EXPECT_TRUE(off->kernel_options.empty()) << "the session's option, not the kernel's";
  EXPECT_FALSE(Parse({"-o", "lowerdir=/l,passthrough=maybe", "m"}));
}

TEST(MountOptionsTest, DirFdsIsAPositiveCount) {
  auto plain = Parse({"-o", "lowerdir=/l", "m"});
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->dir_fds.has_value());
  auto set = Parse({"-o", "lowerdir=/l,dir_fds=64", "m"});
  ASSERT_TRUE(set);
  EXPECT_EQ(set->dir_fds, 64u);
  EXPECT_TRUE(set->kernel_options.empty()) << "the daemon's option, not the kernel's";
  EXPECT_FALSE(Parse({"-o", "lowerdir=/l,dir_fds=0", "m"}));
  EXPECT_FALSE(Parse({"-o", "lowerdir=/l,dir_fds=many", "m"}));
  EXPECT_FALSE(Parse({"-o", "lowerdir=/l,dir_fds", "m"}));
}

TEST(MountOptionsTest, MaxNodesIsACountAndZeroMeansNoBound) {
  auto plain = Parse({"-o", "lowerdir=/l", "m"});
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->max_nodes.has_value());
  auto none = Parse({"-o", "lowerdir=/l,max_nodes=0", "m"});
  ASSERT_TRUE(none);
  EXPECT_EQ(none->max_nodes, 0u);
  auto some = Parse({"-o", "lowerdir=/l,max_nodes=5000", "m"});
  ASSERT_TRUE(some);
  EXPECT_EQ(some->max_nodes, 5000u);
  EXPECT_TRUE(some->kernel_options.empty()) << "the daemon's option, not the kernel's";
  EXPECT_FALSE(Parse({"-o", "lowerdir=/l,max_nodes=-1", "m"}));
  EXPECT_FALSE(Parse({"-o", "lowerdir=/l,max_nodes=lots", "m"}));
}

TEST(MountOptionsTest, UnknownKeysWarnUnknownFlagsFail) {
  auto o = Parse({"-o", "lowerdir=/l,frobnicate=3", "m"});
  ASSERT_TRUE(o);
  ASSERT_EQ(o->warnings.size(), 1u);
  EXPECT_NE(o->warnings[0].find("frobnicate"), std::string::npos);
  auto bad = Parse({"--frobnicate", "-o", "lowerdir=/l", "m"});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().context.find("--frobnicate"), std::string::npos);
}

TEST(MountOptionsTest, Errors) {
  EXPECT_FALSE(Parse({"-o", "lowerdir=/l"}));                        // no mountpoint
  EXPECT_FALSE(Parse({"m"}));                                        // no lowerdir
  EXPECT_FALSE(Parse({"-o", "lowerdir=/l,upperdir=/u", "m"}));       // no workdir
  EXPECT_FALSE(Parse({"-o", "lowerdir=/l", "a", "b", "c"}));         // 3 positionals
  EXPECT_FALSE(Parse({"-o", "lowerdir=/l,uidmapping=0:1", "m"}));    // not triples
  EXPECT_FALSE(Parse({"-o", "lowerdir=/l,uidmapping=0:x:1", "m"}));  // not a number
  EXPECT_FALSE(Parse({"-o", "lowerdir=/l,xino=maybe", "m"}));
  EXPECT_FALSE(Parse({"-o", "lowerdir=/l,timeout=soon", "m"}));
  EXPECT_FALSE(Parse({"-o", "lowerdir=/l,xattr_permissions=3", "m"}));
  EXPECT_FALSE(Parse({"-o"}));
}

TEST(MountOptionsTest, FlagsAndHelp) {
  auto o = Parse({"-d", "-o", "lowerdir=/l", "m"});
  ASSERT_TRUE(o);
  EXPECT_TRUE(o->debug);
  EXPECT_TRUE(o->foreground);
  EXPECT_TRUE(Parse({"--help"})->help);
  EXPECT_TRUE(Parse({"-V"})->version);
}

TEST(MountOptionsTest, SplitOptionList) {
  EXPECT_EQ(SplitOptionList("a,b\\,c,\"d,e\",,f"),
            (std::vector<std::string>{"a", "b,c", "\"d,e\"", "f"}));
}

}  // namespace
}  // namespace strata
