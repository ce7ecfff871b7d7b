#pragma once
// A lab's secrets: the passwords its engines and servers use, generated for each lab when first
// asked for and kept under <lab dir>/secrets/ (the directory 0700, each file 0600, owned by root):
// nothing the lab runs has a password that is the same in every lab, and only root can read
// them. Tests and tools that talk to an engine directly read the file (`cat DIR/secrets/NAME`).

#include <string>

namespace ztm::lab {

// The secret `name` (letters, digits and '-'), created on first use: 32 lower-case hex digits
// from getrandom(2), safe in URLs and config files unquoted. Safe to call from several threads
// and processes at once (the first to link its file wins). Throws std::runtime_error.
std::string lab_secret(const std::string& lab_dir, const std::string& name);

}  // namespace ztm::lab
