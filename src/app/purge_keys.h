#pragma once
// Surrogate keys (docs/cdn.md): the names public reads are tagged with (api/cache_policy.h) and
// the keys each committed change purges at the edges — in one place, so that a tag and its purge
// cannot drift apart.

#include <string>
#include <string_view>
#include <vector>

#include "core/ids.h"
#include "core/result.h"

namespace ztm::app {

inline constexpr std::string_view kUsersListKey = "users-list";  // every page of GET /users
std::string user_key(UserId id);                                 // "user-12": GET /users/12
std::string owner_key(UserId id);  // "owner-12": GET /users/12/photos pages, 12's photos
std::string photo_key(std::int64_t photo_id);  // "photo-9": GET /photos/9
std::string followers_key(UserId id);          // "followers-12": GET /users/12/followers pages
std::string following_key(UserId id);          // "following-12": GET /users/12/following pages
// "url:/media/<key>": the edge tags every object with its path (RFC 9111 4.4 invalidation).
std::string url_key(std::string_view path);

// The keys a "change" outbox message (storage/photo_record.h) purges:
//   user insert   users-list user-{id}          photo insert  owner-{owner}
//   user update   user-{id}                     photo delete  photo-{id} owner-{owner}
//   user delete   user-{id} users-list owner-{id}                 [url:/media/<blob>]
// invalid_argument for a payload that is none of these.
Result<std::vector<std::string>> keys_for_change(std::string_view payload);

// The keys a follow or unfollow of `followee` by `follower` purges (the relay, once it applied
// the change): both users' documents (they carry the counts), the followee's followers pages and
// the follower's following pages.
std::vector<std::string> keys_for_follow(UserId follower, UserId followee);

// The purge-queue messages {"keys":[...]} that carry `keys`, each at most `max_bytes` long (a
// key longer than that alone in its message): one message for a whole relay pass, as a rule.
std::vector<std::string> purge_messages(const std::vector<std::string>& keys,
                                        std::size_t max_bytes);

}  // namespace ztm::app
