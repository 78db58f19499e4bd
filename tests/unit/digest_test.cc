#include "layerstore/digest.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "fs/base/unique_fd.h"
#include "layerstore/tree_digest.h"
#include "tests/support/temp_dir.h"

namespace strata::store {
namespace {

constexpr const char* kEmpty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr const char* kAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

TEST(DigestTest, Sha256KnownVectors) {
  EXPECT_EQ(Sha256Of("").encoded, kEmpty);
  EXPECT_EQ(Sha256Of("abc").String(), std::string("sha256:") + kAbc);
  Sha256 incremental;
  incremental.Update("a");
  incremental.Update("bc");
  EXPECT_EQ(incremental.Finish().encoded, kAbc);
}

TEST(DigestTest, Sha256OfFd) {
  FILE* f = tmpfile();
  ASSERT_NE(f, nullptr);
  std::string big(300000, 'x');
  ASSERT_EQ(fwrite(big.data(), 1, big.size(), f), big.size());
  fflush(f);
  ASSERT_EQ(lseek(fileno(f), 0, SEEK_SET), 0);
  auto d = Sha256OfFd(fileno(f));
  fclose(f);
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, Sha256Of(big));
}

TEST(DigestTest, ParseAcceptsCanonicalDigests) {
  auto d = ParseDigest(std::string("sha256:") + kAbc);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->algorithm, "sha256");
  EXPECT_EQ(d->encoded, kAbc);
  EXPECT_TRUE(ParseDigest("sha512:" + std::string(128, 'a')));
}

TEST(DigestTest, ParseRejectsAnythingUnsafeAsAPath) {
  for (const std::string& bad : {
           std::string("sha256"),
           std::string("sha256:"),
           std::string(":abc"),
           std::string("sha256:") + std::string(63, 'a'),
           std::string("sha256:") + std::string(65, 'a'),
           std::string("sha256:") + std::string(64, 'A'),
           std::string("sha256:../../../../etc/passwd"),
           std::string("sha256:") + std::string(62, 'a') + "/x",
           std::string("SHA256:") + kAbc,
           std::string("sha256+:") + kAbc,
           std::string("md5:d41d8cd98f00b204e9800998ecf8427e"),
       }) {
    auto d = ParseDigest(bad);
    EXPECT_FALSE(d) << bad;
    if (!d) {
      EXPECT_EQ(d.error().code, EINVAL);
    }
  }
}

TEST(DigestTest, ChainId) {
  const Digest a = Sha256Of("layer a"), b = Sha256Of("layer b"), c = Sha256Of("layer c");
  EXPECT_EQ(*ChainId({a}), a);
  const Digest ab = Sha256Of(a.String() + " " + b.String());
  EXPECT_EQ(*ChainId({a, b}), ab);
  EXPECT_EQ(*ChainId({a, b, c}), Sha256Of(ab.String() + " " + c.String()));
  EXPECT_FALSE(ChainId({}));
}

}  // namespace
}  // namespace strata::store

namespace strata::store {
namespace {

TEST(TreeDigestTest, ChangesWithAnyChangeOfTheTree) {
  testing::TempDir dir;
  const std::string root = dir / "tree";
  ::mkdir(root.c_str(), 0755);
  ::mkdir((root + "/d").c_str(), 0755);
  auto write = [&](const std::string& rel, const std::string& data) {
    std::ofstream(root + "/" + rel) << data;
  };
  write("d/f", "content");
  write("g", "other");
  ASSERT_EQ(::symlink("d/f", (root + "/link").c_str()), 0);
  auto digest = [&]() {
    UniqueFd fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    auto d = TreeDigest(fd.Get());
    EXPECT_TRUE(d) << d.error().Message();
    return d ? d->String() : std::string();
  };
  const std::string original = digest();
  EXPECT_EQ(digest(), original) << "deterministic";
  std::vector<std::string> seen = {original};
  auto changed = [&](const char* what) {
    const std::string now = digest();
    for (const std::string& before : seen) EXPECT_NE(now, before) << what;
    seen.push_back(now);
  };
  write("d/f", "contenT");
  changed("content");
  ASSERT_EQ(::chmod((root + "/g").c_str(), 0600), 0);
  changed("mode");
  ASSERT_EQ(::lsetxattr((root + "/g").c_str(), "user.k", "v", 1, 0), 0);
  changed("xattr");
  write("new", "");
  changed("added file");
  ASSERT_EQ(::unlink((root + "/link").c_str()), 0);
  ASSERT_EQ(::symlink("elsewhere", (root + "/link").c_str()), 0);
  changed("symlink target");
  ASSERT_EQ(::rename((root + "/g").c_str(), (root + "/h").c_str()), 0);
  changed("renamed");
}

}  // namespace
}  // namespace strata::store
