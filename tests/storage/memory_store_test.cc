// The in-memory fake that unit tests of the upper tiers use must keep the same contract as the
// real backends: it runs the same conformance suite.
#include "tests/storage/account_conformance.h"
#include "tests/storage/photo_conformance.h"
#include "tests/support/memory_store.h"

namespace ztm::test {

struct MemoryFactory {
  static std::unique_ptr<Store> make() { return std::make_unique<MemoryStore>(); }
};

INSTANTIATE_TYPED_TEST_SUITE_P(Memory, StoreConformance, ::testing::Types<MemoryFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Memory, AccountConformance, ::testing::Types<MemoryFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Memory, PhotoConformance, ::testing::Types<MemoryFactory>);

}  // namespace ztm::test
