// Checks of a stored image against a tree another tool unpacked (umoci unpack).
#pragma once

#include <string>
#include <vector>

namespace strata::testing {

// Mounts IMAGE of the store at STORE_ROOT read-only with stratafs at MOUNTPOINT (made if
// missing) and expects the tree at EXPECTED_ROOT (gtest failures otherwise). The root
// directory's own metadata is the unpacking tool's choice, and so are directory mtimes (umoci
// drops their nanoseconds and, for directories later layers changed, shows a value other than
// the top layer's entry, which kernel overlayfs and strata show): everything else must match.
// Runs strata with ARGS as a child and SIGKILLs it (by its pid) after DELAY_MS, then reaps it.
void RunStrataKilledAfter(const std::vector<std::string>& args, int delay_ms);

// The layers of the store at STORE_ROOT published without their record (layer.json), one per
// line: what an interrupted import or pull must never leave.
std::string LayersWithoutRecord(const std::string& store_root);

void ExpectImageMountsAs(const std::string& store_root, const std::string& image,
                         const std::string& mountpoint, const std::string& expected_root);

}  // namespace strata::testing
