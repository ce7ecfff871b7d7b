#pragma once
// Phone numbers are stored as a JSON array of strings in one column (SQLite TEXT, PostgreSQL
// jsonb): a user's numbers are always read and written together, so a child table would only add
// a join. Shared by every backend so they store the same thing.

#include <string>
#include <string_view>
#include <vector>

#include "core/ids.h"
#include "core/result.h"

namespace ztm::storage {

std::string encode_phone_numbers(const std::vector<std::string>& phones);

// Errc::internal when the column does not hold an array of strings (a corrupt row); `backend`
// names the store in the message.
Result<std::vector<std::string>> decode_phone_numbers(std::string_view json, UserId id,
                                                      std::string_view backend);

}  // namespace ztm::storage
