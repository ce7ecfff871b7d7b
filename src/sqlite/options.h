#pragma once
// How a SQLite database is opened (sqlite/database.h), shared by every store on SQLite.

#include <string>

namespace ztm::sqlite {

struct Options {
  std::string path;            // the database file; created (with its directory) if missing
  int threads = 4;             // pool threads, and so at most this many calls run at once
  int max_pending = 10000;     // calls queued or running beyond which calls fail `overloaded`
  int busy_timeout_ms = 5000;  // how long to wait for another process's write lock
  // true: synchronous=FULL, every commit is fsynced before it is acknowledged (survives power
  // loss). false: synchronous=NORMAL, a commit survives a crash of the process but the last
  // commits may be lost on power loss (never corrupting the file); faster writes.
  bool durable_commits = true;
};

}  // namespace ztm::sqlite
