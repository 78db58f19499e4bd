#include "fs/mount_options.h"

#include <charconv>
#include <set>
#include <string_view>

namespace strata {
namespace {

// Kernel and libfuse mount options stratafs passes through unchanged.
const std::set<std::string, std::less<>> kKernelFlags = {
    "allow_other", "allow_root", "suid",        "nosuid",        "dev",      "nodev",
    "exec",        "noexec",     "atime",       "noatime",       "diratime", "nodiratime",
    "relatime",    "norelatime", "strictatime", "nostrictatime", "lazytime", "nolazytime",
    "async",       "sync",       "dirsync",     "auto_unmount",  "rw",       "ro"};

Unexpected Invalid(const std::string& what) { return Fail(EINVAL, what); }

Result<uint32_t> ParseU32(std::string_view text, const std::string& what) {
  uint32_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
    return Invalid(what + ": '" + std::string(text) + "' is not a number");
  }
  return v;
}

Result<bool> ParseBool(std::string_view text, const std::string& key) {
  if (text == "1" || text == "true" || text == "yes" || text == "on") return true;
  if (text == "0" || text == "false" || text == "no" || text == "off") return false;
  return Invalid(key + "=" + std::string(text) + ": expected 0 or 1");
}

// "C:H:N[:C:H:N...]" as fuse-overlayfs takes it.
Result<std::vector<IdMapping>> ParseMapping(std::string_view text, const std::string& key) {
  std::vector<uint32_t> numbers;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(':', start);
    if (end == std::string_view::npos) end = text.size();
    STRATA_ASSIGN_OR_RETURN(uint32_t n, ParseU32(text.substr(start, end - start), key));
    numbers.push_back(n);
    start = end + 1;
  }
  if (numbers.empty() || numbers.size() % 3 != 0) {
    return Invalid(key + "=" + std::string(text) + ": expected stored:shown:count triples");
  }
  std::vector<IdMapping> out;
  for (size_t i = 0; i < numbers.size(); i += 3) {
    if (numbers[i + 2] == 0) return Invalid(key + ": a mapping of 0 ids");
    out.push_back(IdMapping{numbers[i], numbers[i + 1], numbers[i + 2]});
  }
  return out;
}

std::string Unquote(std::string_view v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  return std::string(v);
}

Status ApplyOption(const std::string& item, MountOptions* o) {
  const size_t eq = item.find('=');
  const std::string key = item.substr(0, eq);
  const bool has_value = eq != std::string::npos;
  const std::string value = has_value ? Unquote(std::string_view(item).substr(eq + 1)) : "";
  auto need_value = [&]() -> Status {
    if (!has_value || value.empty()) return Invalid("option '" + key + "' needs a value");
    return Ok();
  };

  if (key == "lowerdir") {
    STRATA_RETURN_IF_ERROR(need_value());
    o->lowerdirs.clear();
    o->datadirs.clear();
    return SplitLowerdir(value, &o->lowerdirs, &o->datadirs);
  }
  if (key == "upperdir" || key == "workdir") {
    STRATA_RETURN_IF_ERROR(need_value());
    (key == "upperdir" ? o->upperdir : o->workdir) = value;
    return Ok();
  }
  if (key == "uidmapping" || key == "gidmapping") {
    STRATA_RETURN_IF_ERROR(need_value());
    STRATA_ASSIGN_OR_RETURN(auto maps, ParseMapping(value, key));
    (key == "uidmapping" ? o->uid_mappings : o->gid_mappings) = std::move(maps);
    return Ok();
  }
  if (key == "squash_to_root" && !has_value) return o->squash_to_root = true, Ok();
  if (key == "squash_to_uid" || key == "squash_to_gid") {
    STRATA_ASSIGN_OR_RETURN(uint32_t id, ParseU32(value, key));
    (key == "squash_to_uid" ? o->squash_to_uid : o->squash_to_gid) = id;
    return Ok();
  }
  if (key == "static_nlink" && !has_value) return o->static_nlink = true, Ok();
  if (key == "noacl" && !has_value) return o->noacl = true, Ok();
  if (key == "ino32_t" && !has_value) return o->ino32 = true, Ok();
  if (key == "volatile" && !has_value) return o->is_volatile = true, o->fsync = false, Ok();
  if (key == "userxattr" && !has_value) return o->userxattr = true, Ok();
  if (key == "xino") {
    if (value != "off" && value != "auto" && value != "on") {
      return Invalid("xino=" + value + ": expected off, auto or on");
    }
    o->xino = value;
    return Ok();
  }
  if (key == "io_uring" && !has_value) return o->io_uring = o->io_uring_asked = true, Ok();
  if (key == "fsync" || key == "threaded" || key == "writeback" || key == "noxattrs" ||
      key == "io_uring" || key == "passthrough") {
    STRATA_ASSIGN_OR_RETURN(bool b, ParseBool(value, key));
    if (key == "io_uring") o->io_uring = o->io_uring_asked = b;
    if (key == "passthrough") o->passthrough = b;
    if (key == "fsync") o->fsync = b;
    if (key == "threaded") o->threaded = b;
    if (key == "writeback") o->writeback = b;
    if (key == "noxattrs") o->noxattrs = b;
    return Ok();
  }
  if (key == "sync" && has_value) {  // fuse-overlayfs spelling of fsync=
    STRATA_ASSIGN_OR_RETURN(bool b, ParseBool(value, key));
    o->fsync = b;
    return Ok();
  }
  if (key == "xattr_permissions") {
    STRATA_ASSIGN_OR_RETURN(uint32_t n, ParseU32(value, key));
    if (n > 2) return Invalid("xattr_permissions=" + value + ": expected 0, 1 or 2");
    o->xattr_permissions = static_cast<int>(n);
    return Ok();
  }
  if (key == "timeout") {
    STRATA_RETURN_IF_ERROR(need_value());
    double t = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), t);
    if (ec != std::errc() || ptr != value.data() + value.size() || t < 0) {
      return Invalid("timeout=" + value + ": expected seconds");
    }
    o->timeout = t;
    return Ok();
  }
  if (key == "max_write") {
    STRATA_ASSIGN_OR_RETURN(uint32_t n, ParseU32(value, key));
    o->max_write = n;
    return Ok();
  }
  if (key == "dir_fds") {
    STRATA_ASSIGN_OR_RETURN(uint32_t n, ParseU32(value, key));
    if (n == 0) return Invalid("dir_fds=0: at least 1 directory fd must be allowed");
    o->dir_fds = n;
    return Ok();
  }
  if (key == "max_nodes") {
    STRATA_ASSIGN_OR_RETURN(uint32_t n, ParseU32(value, key));
    o->max_nodes = n;
    return Ok();
  }
  if (key == "context") return o->context = value, Ok();
  if (key == "redirect_dir") return o->redirect_dir = value, Ok();
  if (key == "metacopy") {
    if (value != "on" && value != "off")
      return Invalid("metacopy=" + value + ": expected on or off");
    o->metacopy = value == "on";
    return Ok();
  }
  if (key == "index") return o->index = value, Ok();
  if (key == "default_permissions" && !has_value) return Ok();  // always on
  if (key == "fsname" && has_value) return o->source = value, Ok();
  if (!has_value && kKernelFlags.contains(key)) {
    if (key == "ro") o->read_only = true;
    if (key == "rw") o->read_only = false;
    o->kernel_options.push_back(key);
    return Ok();
  }
  if (key == "max_read") {
    STRATA_ASSIGN_OR_RETURN(uint32_t n, ParseU32(value, key));
    o->kernel_options.push_back("max_read=" + std::to_string(n));
    return Ok();
  }
  o->warnings.push_back("unknown option '" + item + "' ignored");
  return Ok();
}

}  // namespace

std::vector<std::string> SplitOptionList(const std::string& list) {
  std::vector<std::string> items;
  std::string cur;
  bool quoted = false;
  for (size_t i = 0; i < list.size(); ++i) {
    const char c = list[i];
    if (c == '\\' && i + 1 < list.size() && list[i + 1] == ',') {
      cur.push_back(',');
      ++i;
    } else if (c == '\\' && i + 1 < list.size()) {
      cur.push_back(c);  // other escapes (\:) belong to the value parser
      cur.push_back(list[++i]);
    } else if (c == '"') {
      quoted = !quoted;
      cur.push_back(c);
    } else if (c == ',' && !quoted) {
      if (!cur.empty()) items.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) items.push_back(std::move(cur));
  return items;
}

Status SplitLowerdir(const std::string& value, std::vector<std::string>* layers,
                     std::vector<std::string>* datadirs) {
  std::vector<std::string>* target = layers;
  std::string cur;
  auto finish = [&]() -> Status {
    if (cur.empty()) return Invalid("lowerdir=" + value + ": empty layer path");
    target->push_back(std::move(cur));
    cur.clear();
    return Ok();
  };
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '\\' && value.compare(i, 3, "\\\\:") == 0) {
      // "\\:" is how fuse-overlayfs (1.15+) spells a literal colon: libfuse's option parser
      // takes one backslash off before it reads "\:".
      cur.push_back(':');
      i += 2;
    } else if (c == '\\' && i + 1 < value.size()) {
      cur.push_back(value[++i]);
    } else if (c == ':') {
      // As the kernel (6.5+): "::" before each data-only layer, none regular after them.
      STRATA_RETURN_IF_ERROR(finish());
      if (i + 1 < value.size() && value[i + 1] == ':') {
        target = datadirs;
        ++i;
      } else if (target == datadirs) {
        return Invalid("lowerdir=" + value + ": regular lower layers cannot follow data-only " +
                       "layers (separate those with '::')");
      }
    } else {
      cur.push_back(c);
    }
  }
  return finish();
}

Result<MountOptions> ParseCommandLine(const std::vector<std::string>& args) {
  MountOptions o;
  std::vector<std::string> positional;
  bool options_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (options_done || a.empty() || a[0] != '-' || a == "-") {
      positional.push_back(a);
    } else if (a == "--") {
      options_done = true;
    } else if (a == "-f") {
      o.foreground = true;
    } else if (a == "-d" || a == "--debug" || a == "-odebug") {
      o.debug = true;
      o.foreground = true;
    } else if (a == "-h" || a == "--help") {
      o.help = true;
    } else if (a == "-V" || a == "--version") {
      o.version = true;
    } else if (a == "-s") {
      o.threaded = false;  // libfuse's "single-threaded" flag
    } else if (a == "-o" || a.starts_with("-o")) {
      std::string list;
      if (a == "-o") {
        if (i + 1 >= args.size()) return Invalid("-o needs an option list");
        list = args[++i];
      } else {
        list = a.substr(2);
      }
      for (const std::string& item : SplitOptionList(list)) {
        STRATA_RETURN_IF_ERROR(ApplyOption(item, &o));
      }
    } else {
      return Invalid("unknown command-line option '" + a + "'");
    }
  }
  if (o.help || o.version) return o;
  if (positional.empty()) return Invalid("no mountpoint given");
  if (positional.size() > 2) return Invalid("too many arguments (expected [SOURCE] MOUNTPOINT)");
  o.mountpoint = positional.back();
  if (positional.size() == 2 && o.source.empty()) o.source = positional.front();
  if (o.lowerdirs.empty()) return Invalid("no lowerdir= given");
  if (o.upperdir.empty() != o.workdir.empty()) {
    return Invalid("upperdir= and workdir= must be given together");
  }
  if (o.upperdir.empty()) o.read_only = true;
  return o;
}

}  // namespace strata
