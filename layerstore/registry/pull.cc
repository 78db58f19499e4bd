#include "layerstore/registry/pull.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "layerstore/import/importer.h"

namespace strata::store {
namespace {

// The blobs of one repository, fetched when the importer opens them.
class RegistrySource : public BlobSource {
 public:
  RegistrySource(RegistryClient* client, const Store& store) : client_(client), store_(store) {}

  Result<UniqueFd> OpenBlob(const Descriptor& d) const override {
    if (IsIndexType(d.media_type) || IsManifestType(d.media_type)) {
      if (d.size > kMaxJsonBytes) {
        return Fail(EINVAL, "manifest " + d.digest.String() + ": too large");
      }
      STRATA_ASSIGN_OR_RETURN(FetchedManifest m, client_->Manifest(d.digest.String()));
      if (m.body.size() != d.size) {
        return Fail(EINVAL, "manifest " + d.digest.String() + " has " +
                                std::to_string(m.body.size()) + " bytes, its descriptor says " +
                                std::to_string(d.size));
      }
      UniqueFd fd(::memfd_create("manifest", MFD_CLOEXEC));
      if (!fd) return FailErrno("memfd_create");
      if (::write(fd.Get(), m.body.data(), m.body.size()) != static_cast<ssize_t>(m.body.size()))
        return FailErrno("write manifest");
      ::lseek(fd.Get(), 0, SEEK_SET);
      return fd;
    }
    // Unnamed in the store's tmp/: nothing is left behind whatever happens.
    const std::string tmp = store_.root() + "/tmp";
    UniqueFd fd(::open(tmp.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
    if (!fd) return FailErrno("temporary file in " + tmp);
    STRATA_RETURN_IF_ERROR(client_->Blob(d.digest, d.size, fd.Get()));
    if (::lseek(fd.Get(), 0, SEEK_SET) != 0) return FailErrno("seek blob");
    return fd;
  }

  std::string Where() const override { return client_->ref().Name(); }

 private:
  RegistryClient* client_;
  const Store& store_;
};

}  // namespace

Result<std::vector<ImportedImage>> PullImage(Store& store, const std::string& reference,
                                             const PullOptions& options, Http* http) {
  STRATA_ASSIGN_OR_RETURN(RemoteRef ref, ParseRemoteRef(reference));
  std::unique_ptr<Http> owned = http ? nullptr : MakeHttp();
  RegistryClient client(http ? *http : *owned, ref, options.registry);
  STRATA_ASSIGN_OR_RETURN(FetchedManifest top, client.Manifest(ref.Reference()));
  const std::string where = ref.Name();
  STRATA_ASSIGN_OR_RETURN(Json doc, ParseJson(top.body, where));
  // Some registries serve every document as application/json: the body says what it is.
  std::string type = top.media_type;
  if (!IsIndexType(type) && !IsManifestType(type)) type = doc.value("mediaType", "");

  ImportOptions import = options.import;
  const std::string repo = ref.registry + "/" + ref.repository;
  if (import.name.empty() && !ref.tag.empty()) import.name = repo + ":" + ref.tag;
  Importer importer(store, import, repo);
  RegistrySource source(&client, store);
  if (IsIndexType(type)) {
    if (doc.contains("mediaType") && doc["mediaType"] != type) {
      return Fail(EINVAL, where + ": mediaType disagrees with the registry's Content-Type");
    }
    return importer.ImportIndex(source, doc, where, "", ref.tag);
  }
  Descriptor md;
  md.media_type = type;
  md.digest = top.digest;
  md.size = top.body.size();
  md.ref_name = ref.tag;
  STRATA_ASSIGN_OR_RETURN(ImportedImage image, importer.ImportManifestText(source, md, top.body));
  return std::vector<ImportedImage>{image};
}

}  // namespace strata::store
