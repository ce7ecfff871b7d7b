#pragma once
// The argument checks every Queue backend makes before touching its engine, so that both answer
// invalid_argument for the same calls (queue.h, "Contract for every method").

#include <chrono>
#include <string>

#include "core/result.h"
#include "queue/queue.h"

namespace ztm::queue {

// Dedup ids are remembered at least this long (queue.h: "a window of at least 2 minutes").
inline constexpr std::chrono::minutes kDedupWindow{2};
// Reasons are stored with the dead letter; longer ones are cut to this many bytes.
inline constexpr std::size_t kMaxReasonBytes = 1024;
// dead_letters(max) reads at most this many.
inline constexpr int kMaxDeadLetters = 1000;

Result<void> check_options(const QueueOptions& options);
Result<void> check_publish(const QueueOptions& options, const std::string& dedup_id,
                           const std::string& payload);
Result<void> check_fetch(int max, std::chrono::milliseconds wait);
Result<void> check_handle(const QueueMessage& message);
Result<void> check_delay(std::chrono::milliseconds delay);
Result<void> check_dead_letters(int max);
// `reason` cut to kMaxReasonBytes (never inside a UTF-8 sequence).
std::string bounded_reason(std::string reason);
// The reason fetch() gives a message it dead-letters itself (deliveries > max_deliveries).
std::string over_delivered_reason(int deliveries);

}  // namespace ztm::queue
