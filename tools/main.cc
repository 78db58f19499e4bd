// strata: the companion tool. Argument parsing (CLI11) only; commands are in tools/cmd_*.cc.
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "tools/commands.h"

int main(int argc, char** argv) {
  using namespace strata::cli;  // NOLINT: the command table below names every command
  CLI::App app{
      "strata: container images in a content-addressed layer store, mounted with stratafs"};
  app.set_version_flag("-V,--version", "strata " STRATA_VERSION);
  app.require_subcommand(1);
  Globals g;
  g.root = DefaultRoot();
  app.add_option("--root", g.root,
                 "store directory (default: $STRATA_ROOT, /var/lib/strata as root)");
  app.add_flag("-q,--quiet", g.quiet, "no progress output");

  std::string source, ref, mountpoint, format;
  strata::store::ImportOptions import_options;
  auto* import = app.add_subcommand("import", "Import an OCI layout or oci-archive");
  import->add_option("SOURCE", source, "DIR, FILE, oci:DIR[:REF] or oci-archive:FILE[:REF]")
      ->required();
  import->add_option("--name", import_options.name, "name[:tag] for the image");
  import->add_option("--platform", import_options.platform,
                     "os/arch[/variant] (default: this host)");
  import->add_flag("--all-platforms", import_options.all_platforms, "import every platform");

  strata::store::PullOptions pull_options;
  bool tls_verify = true;
  auto* pull = app.add_subcommand("pull", "Pull an image from a registry");
  pull->add_option("REF", ref, "nginx, user/repo:tag, host[:port]/path/repo:tag, repo@sha256:...")
      ->required();
  pull->add_option("--platform", pull_options.import.platform,
                   "os/arch[/variant] (default: this host)");
  pull->add_flag("--all-platforms", pull_options.import.all_platforms, "pull every platform");
  pull->add_option("--tls-verify", tls_verify,
                   "verify the registry's TLS certificate and allow no plain HTTP (default true; "
                   "loopback registries may always be plain HTTP)");

  std::string push_destination;
  auto* push = app.add_subcommand("push", "Push an image to a registry");
  push->add_option("REF", ref, "image (its name is the destination unless DEST is given)")
      ->required();
  push->add_option("DEST", push_destination, "host[:port]/path/repo[:tag]");
  push->add_option("--tls-verify", tls_verify,
                   "verify the registry's TLS certificate and allow no plain HTTP (default true; "
                   "loopback registries may always be plain HTTP)");

  std::string registry, user, auth_file;
  bool password_stdin = false;
  auto* login = app.add_subcommand("login", "Log in to a registry (podman's auth file)");
  login->add_option("REGISTRY", registry, "host[:port] (default docker.io)");
  login->add_option("-u,--username", user, "user name (asked on a terminal if not given)");
  login->add_flag("--password-stdin", password_stdin, "read the password from stdin");
  login->add_option("--authfile", auth_file,
                    "auth file (default: $REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/"
                    "auth.json, else /run/containers/UID/auth.json)");
  login->add_option("--tls-verify", tls_verify, "verify the registry's TLS certificate");
  auto* logout = app.add_subcommand("logout", "Forget a registry's credentials");
  logout->add_option("REGISTRY", registry, "host[:port] (default docker.io)");
  logout->add_option("--authfile", auth_file, "auth file (as for login)");

  ImagesFlags images_flags;
  auto* images = app.add_subcommand("images", "List images")->alias("ls");
  images->add_option(
      "--format", images_flags.format,
      "json, or a template: '{{.Repository}}:{{.Tag}}', 'table {{.ID}}\\t{{.Size}}'");
  images->add_flag("-q,--quiet", images_flags.quiet, "image IDs only");
  images->add_flag("--no-trunc", images_flags.no_trunc, "full image IDs");
  images->add_flag("--digests", images_flags.digests, "show the manifest digests");
  images->add_flag("-n,--noheading", images_flags.noheading, "no header line");
  images->add_option("-f,--filter", images_flags.filters,
                     "dangling=true|false, reference=PATTERN, before=IMAGE, since=IMAGE");
  images->add_option("--sort", images_flags.sort, "created (default), id, repository, size, tag")
      ->check(CLI::IsMember({"created", "id", "repository", "size", "tag"}));

  InspectFlags inspect_flags;
  auto* inspect = app.add_subcommand("inspect", "Show an image's layers and identities");
  inspect->add_option("REF", ref, "image (NAME@sha256:... names one of its manifests)")->required();
  inspect->add_flag("--config", inspect_flags.config, "print the image config as imported");
  inspect->add_flag("--raw", inspect_flags.raw, "print the manifest as received");
  inspect->add_option("-f,--format", inspect_flags.format, "a template: '{{.Id}} {{.RepoTags}}'");

  auto* image_cmd = app.add_subcommand("image", "Image subcommands");
  image_cmd->require_subcommand(1);
  auto* tree =
      image_cmd->add_subcommand("tree", "Show an image's layers and which images share them");
  tree->add_option("REF", ref, "image")->required();

  auto* lowerdirs = app.add_subcommand("lowerdirs", "Print the lowerdir= option for an image");
  lowerdirs->add_option("REF", ref, "image")->required();

  MountLayer layer;
  auto* mount = app.add_subcommand(
      "mount", "Mount an image with stratafs, writable (changes go to a container layer)");
  mount->add_option("REF", ref, "image")->required();
  mount->add_option("MOUNTPOINT", mountpoint, "directory")->required();
  auto* ro = mount->add_flag("--read-only", layer.read_only, "no writable layer");
  auto* upper = mount->add_option("--upper", layer.upper,
                                  "keep changes in DIR/diff (workdir DIR/work), not in the store");
  auto* name = mount->add_option(
      "--name", layer.name, "container layer kept in the store (default: named after MOUNTPOINT)");
  ro->excludes(upper, name);
  upper->excludes(name);

  auto* container = app.add_subcommand("container", "Container layers kept in the store");
  container->require_subcommand(1);
  auto* container_ls = container->add_subcommand("ls", "List containers");
  container_ls->add_option("--format", format, "json")->check(CLI::IsMember({"json"}));
  std::vector<std::string> container_names;
  auto* container_rm = container->add_subcommand("rm", "Remove containers and their changes");
  container_rm->add_option("NAME", container_names, "containers")->required();

  CommitFlags commit_flags;
  auto* commit = app.add_subcommand(
      "commit", "Make a container's changes the new top layer of an image (unmount it first)");
  commit->add_option("CONTAINER", commit_flags.container, "container name (strata container ls)")
      ->required();
  commit->add_option("NAME", commit_flags.name, "name[:tag] for the new image (default: none)");
  commit->add_option("-m,--message", commit_flags.message, "the history entry's comment");
  commit->add_option("--author", commit_flags.author, "the image's author");
  commit->add_option("--compression", commit_flags.compression, "gzip (default), zstd or none")
      ->check(CLI::IsMember({"gzip", "zstd", "none"}));

  std::vector<std::string> save_refs;
  std::string save_output, save_format = "oci-archive";
  auto* save = app.add_subcommand("save", "Write images to a file podman, skopeo and docker load");
  save->add_option("REF", save_refs, "images (names or IDs)")->required();
  save->add_option("-o,--output", save_output, "FILE (or DIR for oci-dir; '-' for stdout)")
      ->required();
  save->add_option("--format", save_format, "oci-archive (default), docker-archive or oci-dir")
      ->check(CLI::IsMember({"oci-archive", "docker-archive", "oci-dir"}));

  auto* umount = app.add_subcommand("umount", "Unmount a mounted image");
  umount->add_option("MOUNTPOINT", mountpoint, "directory")->required();

  std::vector<std::string> refs;
  auto* rm = app.add_subcommand("rm", "Remove images (a name of an image with other names: untag)");
  rm->add_option("REF", refs, "images")->required();

  auto* prune = app.add_subcommand("prune", "Remove unnamed images and unused layers")->alias("gc");

  std::string new_name;
  auto* tag = app.add_subcommand("tag", "Give an image another name (an alias, no copy)");
  tag->add_option("REF", ref, "image")->required();
  tag->add_option("NAME", new_name, "name[:tag]")->required();

  HistoryFlags history_flags;
  auto* history =
      app.add_subcommand("history", "Show an image's layers with their sizes and origin");
  history->add_option("REF", ref, "image")->required();
  history->add_option("--format", history_flags.format, "json, or a template");
  history->add_option("-H,--human", history_flags.human,
                      "sizes and dates for humans (default true)");
  history->add_flag("--no-trunc", history_flags.no_trunc, "full layer IDs and commands");
  history->add_flag("-q,--quiet", history_flags.quiet, "layer IDs only");
  history->add_flag("-n,--noheading", history_flags.noheading, "no header line");

  auto* df = app.add_subcommand("df",
                                "Show disk usage: shared and unique bytes per image, and "
                                "containerd snapshots kept beside the store");
  df->add_option("--format", format, "json")->check(CLI::IsMember({"json"}));

  auto* verify = app.add_subcommand("verify",
                                    "Re-hash every blob and check every image's layers and the "
                                    "containerd snapshots kept beside the store");

  std::vector<std::string> files;
  auto* digest = app.add_subcommand("digest", "Print the sha256 digest of files ('-' = stdin)");
  digest->add_option("FILE", files, "files to hash")->required();
  std::vector<std::string> diff_ids;
  auto* chain =
      app.add_subcommand("chainid", "Print the OCI chainID of layer diffIDs, bottom first");
  chain->add_option("DIFFID", diff_ids, "sha256:... layer diffIDs, bottom layer first")->required();

  BenchFlags bench_flags;
  auto* bench = app.add_subcommand(
      "bench", "Measure copy-on-write cost: stratafs, fuse-overlayfs, kernel overlayfs, native");
  bench->add_option("--targets", bench_flags.targets,
                    "stratafs, stratafs:volatile, stratafs:OPTS, /path/to/fuse-overlayfs[:OPTS], "
                    "kernel, kernel:OPTS, native (default: all of stratafs, stratafs:volatile, "
                    "/usr/bin/fuse-overlayfs, kernel, native)");
  bench->add_option("--workloads", bench_flags.workloads,
                    "comma-separated (default: all; see --list)");
  bench->add_option("--reps", bench_flags.reps, "repetitions (default 3, 1 with --quick)")
      ->check(CLI::Range(1, 1000));
  bench->add_flag("--quick", bench_flags.quick, "tiny layers, one repetition: a smoke test");
  bench->add_option("--json", bench_flags.json, "write the results as JSON to FILE");
  bench->add_option("--chart", bench_flags.chart,
                    "draw the chart to FILE.svg or FILE.png (gnuplot; may be given twice)");
  bench->add_option("--work", bench_flags.work,
                    "work directory: layers (kept and reused), upper layers, mounts "
                    "(default /var/tmp/strata-bench)");
  bench->add_option("--scale", bench_flags.scales,
                    "rerun workloads over a series: layers=1,8,32,128 or files=1e3,1e4,1e5");
  bench->add_option("--image", bench_flags.image, "an image in the store as the layers");
  bench
      ->add_flag("--micro", bench_flags.micro,
                 "run the Google Benchmark micro-benchmarks (their files under --work)")
      ->excludes("--targets", "--workloads", "--reps", "--quick", "--scale", "--image", "--chart");
  bench->add_option("--filter", bench_flags.filter, "with --micro: the benchmarks matching REGEX");
  bench->add_flag("--list", bench_flags.list, "list the workloads and targets");
  bench
      ->add_option("--from", bench_flags.from,
                   "report a saved run again: the table and --chart from its --json FILE")
      ->excludes("--targets", "--workloads", "--reps", "--quick", "--scale", "--image", "--micro",
                 "--list", "--json");

  CLI11_PARSE(app, argc, argv);
  for (int i = 0; i < argc; ++i) bench_flags.command += (i ? " " : "") + std::string(argv[i]);
  if (*import) return Import(g, source, import_options);
  if (*login) return Login(registry, user, password_stdin, auth_file, tls_verify);
  if (*logout) return Logout(registry, auth_file);
  if (*pull) {
    pull_options.registry.tls_verify = tls_verify;
    return Pull(g, ref, pull_options);
  }
  if (*push) return Push(g, ref, push_destination, tls_verify);
  if (*images) return Images(g, images_flags);
  if (*inspect) return Inspect(g, ref, inspect_flags);
  if (*tree) return ImageTree(g, ref);
  if (*lowerdirs) return Lowerdirs(g, ref);
  if (*mount) return Mount(g, ref, mountpoint, layer);
  if (*container_ls) return Containers(g, format);
  if (*container_rm) return RemoveContainers(g, container_names);
  if (*commit) return Commit(g, commit_flags);
  if (*save) return Save(g, save_refs, save_output, save_format);
  if (*umount) return Umount(mountpoint);
  if (*rm) return Remove(g, refs);
  if (*prune) return Prune(g);
  if (*tag) return Tag(g, ref, new_name);
  if (*history) return History(g, ref, history_flags);
  if (*df) return DiskUsage(g, format);
  if (*verify) return Verify(g);
  if (*digest) return DigestFiles(files);
  if (*chain) return ChainIdOf(diff_ids);
  if (*bench) return Bench(g, bench_flags);
  return 1;
}
