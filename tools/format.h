// Output as podman prints it: a subset of Go's text/template for --format, tables aligned like
// text/tabwriter, and human sizes and ages. Presentation only; no store access. Thread-safe.
//
// The template subset (documented in the README):
//   {{.Field}} and {{.Field.Sub}}  a value of the row (the key as written, else one matching
//                                  ignoring case and '_': {{.RepoDigests}} finds
//                                  "repo_digests"); strings as they are,
//                                  lists as [a b], objects as JSON
//   {{.}}                          the whole row
//   {{json .}}, {{json .Field}}    as JSON
//   {{upper .Field}}, {{lower .Field}}
//   a leading "table "             a header line, then the rows in aligned columns
//   \t and \n                      tab and newline, typed as two characters on a command line
// Anything else ({{if}}, {{range}}, pipelines) is an error naming the action.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fs/base/status.h"

namespace strata::cli {

class Template {
 public:
  // Errors: EINVAL for an unclosed or unsupported action.
  static Result<Template> Parse(const std::string& format);
  bool table() const { return table_; }
  // Errors: EINVAL naming a field the row does not have.
  Result<std::string> Render(const nlohmann::json& row) const;
  // The table's header: each field action's HEADERS entry (by field name, as written), else
  // the field name upper-cased; literal text as it is.
  std::string Header(const std::map<std::string, std::string>& headers) const;

 private:
  struct Part {
    std::string text;   // literal text, or the field path of an action ("" for {{.}})
    bool action = false;
    std::string func;   // "", "json", "upper", "lower"
  };
  std::vector<Part> parts_;
  bool table_ = false;
};

// LINES of tab-separated cells as columns: each cell padded to its column's widest, 3 spaces
// between columns (podman's tabwriter), trailing spaces dropped.
std::string AlignColumns(const std::vector<std::string>& lines);

// "1.5 MB" style (decimal units, as podman).
std::string HumanSize(uint64_t bytes);
// How long ago RFC 3339 time CREATED was, as podman says it: "About a minute ago",
// "3 hours ago", "2 weeks ago"; "" if CREATED does not parse.
std::string HumanAgo(const std::string& created, int64_t now_unix);
// Seconds since the epoch of RFC 3339 time TEXT (zone honoured), or -1.
int64_t ParseTime(const std::string& text);
// The same in nanoseconds (the fraction too), or -1: orders images made within a second.
int64_t ParseTimeNs(const std::string& text);

}  // namespace strata::cli
