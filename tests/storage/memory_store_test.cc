// The in-memory fake that unit tests of the upper tiers use must keep the same contract as the
// real backends: it runs the same conformance suite. So does MeteredStore, which must change no
// result of the stores it wraps.
#include "tests/support/memory_store.h"

#include "storage/metered_store.h"
#include "tests/storage/account_conformance.h"
#include "tests/storage/follow_conformance.h"
#include "tests/storage/lookup_conformance.h"
#include "tests/storage/photo_conformance.h"

namespace ztm::test {

using storage::MeteredStore;
using storage::Store;

struct MemoryFactory {
  static std::unique_ptr<Store> make() { return std::make_unique<MemoryStore>(); }
};

INSTANTIATE_TYPED_TEST_SUITE_P(Memory, StoreConformance, ::testing::Types<MemoryFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Memory, AccountConformance, ::testing::Types<MemoryFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Memory, PhotoConformance, ::testing::Types<MemoryFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Memory, LookupConformance, ::testing::Types<MemoryFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Memory, FollowConformance, ::testing::Types<MemoryFactory>);

// A MeteredStore that owns what it wraps (base-from-member: the parts are built first).
struct MeteredParts {
  MemoryStore inner;
  MetricsRegistry registry;
};
class SelfContainedMeteredStore : private MeteredParts, public MeteredStore {
 public:
  SelfContainedMeteredStore() : MeteredStore(inner, registry) {}
};
struct MeteredFactory {
  static std::unique_ptr<Store> make() { return std::make_unique<SelfContainedMeteredStore>(); }
};

INSTANTIATE_TYPED_TEST_SUITE_P(Metered, StoreConformance, ::testing::Types<MeteredFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Metered, AccountConformance, ::testing::Types<MeteredFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Metered, PhotoConformance, ::testing::Types<MeteredFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Metered, FollowConformance, ::testing::Types<MeteredFactory>);

}  // namespace ztm::test
