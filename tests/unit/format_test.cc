// The --format template subset, tables and human values of tools/format.h.
#include "tools/format.h"

#include <gtest/gtest.h>

namespace strata::cli {
namespace {

using Json = nlohmann::json;

std::string Render(const std::string& format, const Json& row) {
  auto t = Template::Parse(format);
  EXPECT_TRUE(t) << t.error().Message();
  if (!t) return "";
  auto out = t->Render(row);
  return out ? *out : "error: " + out.error().context;
}

TEST(TemplateTest, FieldsJsonAndFunctions) {
  const Json row = {{"ID", "abc"},
                    {"Id", "sha256:abc"},
                    {"Repository", "localhost/app"},
                    {"repo_digests", {"a@sha256:1", "b@sha256:2"}},
                    {"config", {{"Env", {"A=1"}}, {"User", "me"}}},
                    {"Layers", 3}};
  EXPECT_EQ(Render("{{.Repository}}:{{.ID}}", row), "localhost/app:abc");
  EXPECT_EQ(Render("{{ .Id }}", row), "sha256:abc") << "the key as written wins";
  EXPECT_EQ(Render("{{.RepoDigests}}", row), "[a@sha256:1 b@sha256:2]");
  EXPECT_EQ(Render("{{json .RepoDigests}}", row), R"(["a@sha256:1","b@sha256:2"])");
  EXPECT_EQ(Render("{{.Config.User}} {{.layers}}", row), "me 3");
  EXPECT_EQ(Render("{{upper .Repository}}", row), "LOCALHOST/APP");
  EXPECT_EQ(Render("{{json .}}", {{"a", 1}}), R"({"a":1})");
  EXPECT_EQ(Render("a\\tb\\n", row), "a\tb\n") << "escapes typed on a command line";
  EXPECT_EQ(Render("{{.Nope}}", row), "error: template: no field .Nope");
}

TEST(TemplateTest, UnsupportedActionsAreErrors) {
  for (const char* bad : {"{{if .ID}}x{{end}}", "{{range .Names}}{{.}}{{end}}", "{{.ID | upper}}",
                          "{{.ID", "{{printf \"%s\" .ID}}"}) {
    auto t = Template::Parse(bad);
    EXPECT_FALSE(t) << bad;
    if (!t) {
      EXPECT_EQ(t.error().code, EINVAL);
    }
  }
}

TEST(TemplateTest, TablesHaveAHeaderAndAlignedColumns) {
  auto t = Template::Parse("table {{.ID}}\\t{{.Repository}}\\t{{.Size}}");
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->table());
  EXPECT_EQ(t->Header({{"ID", "IMAGE ID"}}), "IMAGE ID\tREPOSITORY\tSIZE");
  EXPECT_EQ(AlignColumns({"IMAGE ID\tREPOSITORY\tSIZE", "abc\tlocalhost/app\t1 MB"}),
            "IMAGE ID   REPOSITORY      SIZE\n"
            "abc        localhost/app   1 MB\n");
}

TEST(HumanTest, SizesAndAges) {
  EXPECT_EQ(HumanSize(999), "999 B");
  EXPECT_EQ(HumanSize(2610000), "2.61 MB");
  const int64_t t = ParseTime("2026-01-01T00:00:00Z");
  ASSERT_GT(t, 0);
  EXPECT_EQ(ParseTime("2026-01-01T02:00:00.123456789+02:00"), t) << "zone honoured";
  EXPECT_EQ(ParseTime("yesterday"), -1);
  EXPECT_EQ(ParseTimeNs("2026-01-01T00:00:00.5Z") - ParseTimeNs("2026-01-01T00:00:00.25Z"),
            250000000) << "images made within a second still order";
  EXPECT_EQ(HumanAgo("2026-01-01T00:00:00Z", t + 30), "30 seconds ago");
  EXPECT_EQ(HumanAgo("2026-01-01T00:00:00Z", t + 90), "About a minute ago");
  EXPECT_EQ(HumanAgo("2026-01-01T00:00:00Z", t + 3 * 3600), "3 hours ago");
  EXPECT_EQ(HumanAgo("2026-01-01T00:00:00Z", t + 3 * 86400), "3 days ago");
  EXPECT_EQ(HumanAgo("2026-01-01T00:00:00Z", t + 21 * 86400), "3 weeks ago");
  EXPECT_EQ(HumanAgo("2026-01-01T00:00:00Z", t + 3 * 365 * 86400), "3 years ago");
  EXPECT_EQ(HumanAgo("garbage", t), "");
}

}  // namespace
}  // namespace strata::cli
