// strata: the companion tool. Argument parsing and output only; the work is in layerstore/.
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fs/base/unique_fd.h"
#include "layerstore/digest.h"
#include "layerstore/import/oci_import.h"
#include "layerstore/reference.h"
#include "layerstore/store.h"

namespace {

using strata::Result;
using strata::Status;
using strata::store::Digest;
using strata::store::Store;
using Json = nlohmann::json;

struct Globals {
  std::string root;
  bool quiet = false;
};

std::string DefaultRoot() {
  if (const char* env = std::getenv("STRATA_ROOT"); env && *env) return env;
  if (::geteuid() == 0) return "/var/lib/strata";
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) return std::string(xdg) + "/strata";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "/tmp") + "/.local/share/strata";
}

int Report(const strata::Error& e) {
  std::fprintf(stderr, "strata: %s\n", e.Message().c_str());
  return 1;
}

std::string Short(const Digest& d) { return d.encoded.substr(0, 12); }

// The image REF names in STORE.
Result<Digest> Resolve(const Store& store, const std::string& ref) {
  STRATA_ASSIGN_OR_RETURN(auto names, store.ListNames());
  STRATA_ASSIGN_OR_RETURN(auto images, store.ListImages());
  std::vector<Digest> ids;
  for (const auto& image : images) ids.push_back(image.id);
  return strata::store::ResolveReference(ref, names, ids);
}

uint64_t ImageSize(const Store& store, const strata::store::ImageRecord& image) {
  uint64_t total = 0;
  for (const Digest& d : image.diff_ids) {
    if (auto layer = store.GetLayer(d)) total += layer->tar_size;
  }
  return total;
}

std::string HumanSize(uint64_t bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.3g %s", v, units[u]);
  return buf;
}

int Import(const Globals& g, const std::string& source, strata::store::ImportOptions options) {
  auto store = Store::Open(g.root, Store::Lock::kShared);
  if (!store) return Report(store.error());
  const bool progress = !g.quiet && ::isatty(STDERR_FILENO);
  options.on_layer = [&](size_t i, size_t n, const Digest& diff, bool extract) {
    if (!g.quiet) {
      std::fprintf(stderr, "%s layer %zu/%zu %s\n", extract ? "Extracting" : "Reusing   ", i + 1, n,
                   Short(diff).c_str());
    }
    (void)progress;
  };
  auto images = strata::store::ImportImage(*store, source, options);
  if (!images) return Report(images.error());
  for (const auto& image : *images) {
    std::string names;
    for (const auto& n : image.names) names += " " + n;
    if (g.quiet) {
      std::printf("%s\n", image.id.String().c_str());
    } else {
      std::printf("Imported %s%s (%zu layers extracted, %zu reused)\n", Short(image.id).c_str(),
                  names.c_str(), image.layers_extracted, image.layers_reused);
    }
  }
  return 0;
}

int Images(const Globals& g, const std::string& format, bool ids_only) {
  auto store = Store::Open(g.root, Store::Lock::kShared);
  if (!store) return Report(store.error());
  auto images = store->ListImages();
  if (!images) return Report(images.error());
  auto names = store->ListNames();
  if (!names) return Report(names.error());
  Json rows = Json::array();
  if (format.empty() && !ids_only) {
    std::printf("%-40s %-12s %-14s %-22s %s\n", "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE");
  }
  for (const auto& image : *images) {
    std::vector<std::string> image_names;
    for (const auto& [name, id] : *names) {
      if (id == image.id) image_names.push_back(name);
    }
    if (ids_only) {
      std::printf("%s\n", Short(image.id).c_str());
      continue;
    }
    const uint64_t size = ImageSize(*store, image);
    if (format == "json") {
      rows.push_back({{"id", image.id.String()}, {"names", image_names}, {"created", image.created},
                      {"size", size}, {"layers", image.diff_ids.size()},
                      {"platform", image.os + "/" + image.architecture +
                                       (image.variant.empty() ? "" : "/" + image.variant)}});
      continue;
    }
    if (image_names.empty()) image_names.push_back("<none>:<none>");
    for (const std::string& n : image_names) {
      const size_t colon = n.rfind(':');
      std::printf("%-40s %-12s %-14s %-22s %s\n", n.substr(0, colon).c_str(), n.substr(colon + 1).c_str(),
                  Short(image.id).c_str(), image.created.substr(0, 19).c_str(), HumanSize(size).c_str());
    }
  }
  if (format == "json") std::printf("%s\n", rows.dump(2).c_str());
  return 0;
}

int Inspect(const Globals& g, const std::string& ref, bool config, bool raw) {
  auto store = Store::Open(g.root, Store::Lock::kShared);
  if (!store) return Report(store.error());
  auto id = Resolve(*store, ref);
  if (!id) return Report(id.error());
  auto image = store->GetImage(*id);
  if (!image) return Report(image.error());
  if (config || raw) {
    auto blob = store->GetBlob(config ? image->id : image->manifest_digest);
    if (!blob) return Report(blob.error());
    std::fwrite(blob->data(), 1, blob->size(), stdout);
    return 0;
  }
  Json layers = Json::array();
  for (size_t i = 0; i < image->diff_ids.size(); ++i) {
    Json l = {{"diff_id", image->diff_ids[i].String()}, {"chain_id", image->chain_ids[i].String()},
              {"path", store->LayerDir(image->diff_ids[i])}};
    if (auto rec = store->GetLayer(image->diff_ids[i])) {
      l["blob_digest"] = rec->blob_digest.String();
      l["compression"] = rec->compression;
      l["size"] = rec->tar_size;
    }
    layers.push_back(l);
  }
  Json out = {{"id", image->id.String()},      {"manifest_digest", image->manifest_digest.String()},
              {"os", image->os},               {"architecture", image->architecture},
              {"created", image->created},     {"layers", layers}};
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}

// "lowerdir=TOP:...:BOTTOM" for the image.
Result<std::string> LowerdirOption(const Store& store, const std::string& ref) {
  STRATA_ASSIGN_OR_RETURN(Digest id, Resolve(store, ref));
  STRATA_ASSIGN_OR_RETURN(auto image, store.GetImage(id));
  std::string option = "lowerdir=";
  for (size_t i = image.diff_ids.size(); i-- > 0;) {
    if (!store.HasLayer(image.diff_ids[i])) {
      return strata::Fail(ENOENT, "layer " + image.diff_ids[i].String() + " is missing from the store");
    }
    option += store.LayerDir(image.diff_ids[i]);
    if (i) option += ":";
  }
  if (image.diff_ids.empty()) return strata::Fail(EINVAL, "image " + ref + " has no layers");
  return option;
}

int Lowerdirs(const Globals& g, const std::string& ref) {
  auto store = Store::Open(g.root, Store::Lock::kShared);
  if (!store) return Report(store.error());
  auto option = LowerdirOption(*store, ref);
  if (!option) return Report(option.error());
  std::printf("%s\n", option->c_str());
  return 0;
}

std::string StratafsPath() {
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    std::string dir(self, static_cast<size_t>(n));
    dir = dir.substr(0, dir.rfind('/'));
    if (::access((dir + "/stratafs").c_str(), X_OK) == 0) return dir + "/stratafs";
  }
  return "stratafs";
}

int Mount(const Globals& g, const std::string& ref, const std::string& mountpoint, bool read_only) {
  if (!read_only) {
    std::fprintf(stderr, "strata: writable mounts need stratafs' writable layer, which is not "
                         "implemented yet: use --read-only\n");
    return 1;
  }
  std::string option;
  {
    auto store = Store::Open(g.root, Store::Lock::kShared);
    if (!store) return Report(store.error());
    auto o = LowerdirOption(*store, ref);
    if (!o) return Report(o.error());
    option = *o;
  }
  const std::string stratafs = StratafsPath();
  std::vector<std::string> args = {stratafs, "-o", option, "strata", mountpoint};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execvp(argv[0], argv.data());
  std::fprintf(stderr, "strata: cannot run %s: %s\n", stratafs.c_str(), std::strerror(errno));
  return 1;
}

int Umount(const std::string& mountpoint) {
  if (::umount2(mountpoint.c_str(), 0) != 0) {
    std::fprintf(stderr, "strata: umount %s: %s\n", mountpoint.c_str(), std::strerror(errno));
    return 1;
  }
  return 0;
}

int Remove(const Globals& g, const std::vector<std::string>& refs) {
  auto store = Store::Open(g.root, Store::Lock::kExclusive);
  if (!store) return Report(store.error());
  for (const std::string& ref : refs) {
    auto id = Resolve(*store, ref);
    if (!id) return Report(id.error());
    // A name of an image with other names is an alias: drop just the name.
    auto names = store->ListNames();
    if (!names) return Report(names.error());
    size_t count = 0;
    std::string named;
    for (const auto& [name, target] : *names) {
      if (target == *id) ++count;
      if (auto normalized = strata::store::NormalizeName(ref); normalized && *normalized == name) named = name;
    }
    Status s = !named.empty() && count > 1 ? store->RemoveName(named) : store->RemoveImage(*id);
    if (!s) return Report(s.error());
    std::printf("%s %s\n", !named.empty() && count > 1 ? "Untagged" : "Deleted",
                !named.empty() && count > 1 ? named.c_str() : id->String().c_str());
  }
  auto removed = store->CollectGarbage();
  if (!removed) return Report(removed.error());
  return 0;
}

int Prune(const Globals& g) {
  auto store = Store::Open(g.root, Store::Lock::kExclusive);
  if (!store) return Report(store.error());
  auto images = store->ListImages();
  auto names = store->ListNames();
  if (!images) return Report(images.error());
  if (!names) return Report(names.error());
  for (const auto& image : *images) {
    bool named = false;
    for (const auto& [n, id] : *names) named |= id == image.id;
    if (named) continue;
    Status s = store->RemoveImage(image.id);
    if (!s) return Report(s.error());
    std::printf("Deleted image %s\n", image.id.String().c_str());
  }
  auto removed = store->CollectGarbage();
  if (!removed) return Report(removed.error());
  for (const auto& r : *removed) std::printf("Deleted %s\n", r.c_str());
  return 0;
}

int DigestFiles(const std::vector<std::string>& files) {
  int rc = 0;
  for (const std::string& path : files) {
    strata::UniqueFd fd(path == "-" ? dup(STDIN_FILENO) : open(path.c_str(), O_RDONLY | O_CLOEXEC));
    auto digest = fd ? strata::store::Sha256OfFd(fd.Get()) : Result<Digest>(strata::FailErrno(path));
    if (!digest) {
      rc = Report(digest.error());
      continue;
    }
    std::printf("%s  %s\n", digest->String().c_str(), path.c_str());
  }
  return rc;
}

int ChainIdOf(const std::vector<std::string>& diff_ids) {
  std::vector<Digest> parsed;
  for (const std::string& text : diff_ids) {
    auto d = strata::store::ParseDigest(text);
    if (!d) return Report(d.error());
    parsed.push_back(*d);
  }
  auto chain = strata::store::ChainId(parsed);
  if (!chain) return Report(chain.error());
  std::printf("%s\n", chain->String().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"strata: container images in a content-addressed layer store, mounted with stratafs"};
  app.set_version_flag("-V,--version", "strata " STRATA_VERSION);
  app.require_subcommand(1);
  Globals g;
  g.root = DefaultRoot();
  app.add_option("--root", g.root, "store directory (default: $STRATA_ROOT, /var/lib/strata as root)");
  app.add_flag("-q,--quiet", g.quiet, "no progress output");

  std::string source, ref, mountpoint, format;
  strata::store::ImportOptions import_options;
  auto* import = app.add_subcommand("import", "Import an OCI layout or oci-archive");
  import->add_option("SOURCE", source, "DIR, FILE, oci:DIR[:REF] or oci-archive:FILE[:REF]")->required();
  import->add_option("--name", import_options.name, "name[:tag] for the image");
  import->add_option("--platform", import_options.platform, "os/arch[/variant] (default: this host)");
  import->add_flag("--all-platforms", import_options.all_platforms, "import every platform");

  bool ids_only = false;
  auto* images = app.add_subcommand("images", "List images")->alias("ls");
  images->add_option("--format", format, "json")->check(CLI::IsMember({"json"}));
  images->add_flag("-q", ids_only, "image IDs only");

  bool config = false, raw = false;
  auto* inspect = app.add_subcommand("inspect", "Show an image's layers and identities");
  inspect->add_option("REF", ref, "image")->required();
  inspect->add_flag("--config", config, "print the image config as imported");
  inspect->add_flag("--raw", raw, "print the manifest as imported");

  auto* lowerdirs = app.add_subcommand("lowerdirs", "Print the lowerdir= option for an image");
  lowerdirs->add_option("REF", ref, "image")->required();

  bool read_only = false;
  auto* mount = app.add_subcommand("mount", "Mount an image with stratafs");
  mount->add_option("REF", ref, "image")->required();
  mount->add_option("MOUNTPOINT", mountpoint, "directory")->required();
  mount->add_flag("--read-only", read_only, "no writable layer");

  auto* umount = app.add_subcommand("umount", "Unmount a mounted image");
  umount->add_option("MOUNTPOINT", mountpoint, "directory")->required();

  std::vector<std::string> refs;
  auto* rm = app.add_subcommand("rm", "Remove images (a name of an image with other names: untag)");
  rm->add_option("REF", refs, "images")->required();

  auto* prune = app.add_subcommand("prune", "Remove unnamed images and unused layers")->alias("gc");

  std::vector<std::string> files;
  auto* digest = app.add_subcommand("digest", "Print the sha256 digest of files ('-' = stdin)");
  digest->add_option("FILE", files, "files to hash")->required();
  std::vector<std::string> diff_ids;
  auto* chain = app.add_subcommand("chainid", "Print the OCI chainID of layer diffIDs, bottom first");
  chain->add_option("DIFFID", diff_ids, "sha256:... layer diffIDs, bottom layer first")->required();

  CLI11_PARSE(app, argc, argv);
  if (*import) return Import(g, source, import_options);
  if (*images) return Images(g, format, ids_only);
  if (*inspect) return Inspect(g, ref, config, raw);
  if (*lowerdirs) return Lowerdirs(g, ref);
  if (*mount) return Mount(g, ref, mountpoint, read_only);
  if (*umount) return Umount(mountpoint);
  if (*rm) return Remove(g, refs);
  if (*prune) return Prune(g);
  if (*digest) return DigestFiles(files);
  if (*chain) return ChainIdOf(diff_ids);
  return 1;
}
