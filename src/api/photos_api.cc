#include "api/photos_api.h"

#include <fmt/format.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "api/errors.h"
#include "api/multipart.h"
#include "api/request_parsing.h"
#include "app/photo_edits.h"
#include "app/purge_keys.h"

namespace ztm::api {

using app::operations_from_json;
using storage::JobStatus;
using storage::Photo;

namespace json = boost::json;
using http::Response;

namespace {

json::object photo_json(const Photo& p) {
  json::object o{{"id", p.id},
                 {"ownerId", p.owner_id},
                 {"contentType", p.content_type},
                 {"width", p.width},
                 {"height", p.height},
                 {"bytes", p.bytes},
                 {"url", "/media/" + p.blob_key}};
  o.emplace("sourceId", p.source_id ? json::value(p.source_id) : json::value(nullptr));
  return o;
}

Response json_response(unsigned status, const json::object& body) {
  Response res;
  res.status = status;
  res.body = json::serialize(body);
  return res;
}

// Image types we accept as a raw body; multipart bodies are checked by content anyway.
bool raw_image_type(std::string_view ct) {
  ct = ct.substr(0, ct.find(';'));
  while (!ct.empty() && ct.back() == ' ') ct.remove_suffix(1);
  return ct == "image/jpeg" || ct == "image/png" || ct == "image/webp";
}

// A literal for Response::content_type, by the blob key's extension.
std::string_view media_type(std::string_view key) {
  if (key.ends_with(".png")) return "image/png";
  if (key.ends_with(".webp")) return "image/webp";
  return "image/jpeg";
}

// A blob as a response body, streamed in the blob store's chunks (media::kBlobChunk).
class BlobBody final : public http::BodyStream {
 public:
  explicit BlobBody(media::BlobReader reader) : reader_(std::move(reader)) {}
  std::uint64_t size() const override { return reader_.size(); }
  boost::asio::awaitable<Result<std::string>> next() override { return reader_.next(); }

 private:
  media::BlobReader reader_;
};

}  // namespace

boost::asio::awaitable<Result<void>> PhotosApi::admit_upload(http::Request& head) {
  auto owner = parse_id(head.params[0]);
  if (!owner) co_return std::move(owner).error();
  auto who = co_await auth_.principal(head);
  if (!who) co_return std::move(who).error();
  co_return require_owner(*who, *owner);
}

boost::asio::awaitable<Response> PhotosApi::upload(http::Request& req) {
  auto owner = parse_id(req.params[0]);
  if (!owner) co_return error_response(owner.error());
  auto who = co_await auth_.principal(req);
  if (!who) co_return error_response(who.error());
  const std::string_view type = req.header(http::Field::content_type);
  std::string bytes;
  if (auto boundary = multipart_boundary(type)) {
    auto part = first_file_part(req.msg.body(), *boundary);
    if (!part)
      co_return error_response(Error{
          Errc::invalid_multipart, "the form has no file part (or is not well-formed multipart)"});
    bytes = std::string(part->bytes);
  } else if (raw_image_type(type)) {
    bytes = std::move(req.msg.body());
  } else {
    co_return error_response(Error{Errc::unsupported_media_type,
                                   "send the image as image/jpeg, image/png or image/webp, or as "
                                   "multipart/form-data"});
  }
  if (bytes.empty())
    co_return error_response(Error{Errc::invalid_argument, "photo: the upload is empty"});
  auto photo = co_await photos_.upload(*who, *owner, std::move(bytes));
  if (!photo) co_return error_response(photo.error());
  Response res = json_response(201, photo_json(*photo));
  res.header("Location", "/photos/" + std::to_string(photo->id));
  co_return res;
}

boost::asio::awaitable<Response> PhotosApi::get(http::Request& req) {
  auto id = parse_id(req.params[0]);
  if (!id) co_return error_response(id.error());
  auto photo = co_await photos_.get(*id);
  if (!photo) co_return error_response(photo.error());
  // A photo row never changes (edits make new photos): its id is its version.
  Response res;
  CachePolicy::conditional(req, res, "\"p" + std::to_string(photo->id) + "\"",
                           json::serialize(photo_json(*photo)));
  cache_.public_read(req, res, CachePolicy::Read::photo,
                     app::photo_key(photo->id) + " " + app::owner_key(photo->owner_id));
  co_return res;
}

boost::asio::awaitable<Response> PhotosApi::list(http::Request& req) {
  auto owner = parse_id(req.params[0]);
  if (!owner) co_return error_response(owner.error());
  auto query = parse_page(req, kDefaultPageSize, kMaxPageSize);
  if (!query) co_return error_response(query.error());
  auto page = co_await photos_.list(*owner, query->after, query->limit);
  if (!page) co_return error_response(page.error());
  json::array photos;
  photos.reserve(page->photos.size());
  for (const auto& p : page->photos) photos.emplace_back(photo_json(p));
  json::value next = nullptr;
  if (page->more && !page->photos.empty())
    next = fmt::format("/users/{}/photos?after={}&limit={}", *owner, page->photos.back().id,
                       query->limit);
  std::string body =
      json::serialize(json::object{{"photos", std::move(photos)}, {"next", std::move(next)}});
  Response res;
  const std::string tag = content_etag(body);
  CachePolicy::conditional(req, res, tag, body);
  // Uploads, edit results and deletions of the owner's photos purge owner-{id}.
  cache_.public_read(req, res, CachePolicy::Read::list, app::owner_key(*owner));
  co_return res;
}

boost::asio::awaitable<Response> PhotosApi::remove(http::Request& req) {
  auto id = parse_id(req.params[0]);
  if (!id) co_return error_response(id.error());
  auto who = co_await auth_.principal(req);
  if (!who) co_return error_response(who.error());
  auto done = co_await photos_.remove(*who, *id);
  if (!done) co_return error_response(done.error());
  Response res;
  res.status = 204;
  co_return res;
}

boost::asio::awaitable<Response> PhotosApi::media(http::Request& req) {
  const std::string key(req.params[0]);
  // Content-addressed: the hash is the strong validator, and the bytes never change.
  const std::string tag = fmt::format("\"{}\"", std::string_view(key).substr(0, key.find('.')));
  Response res;
  if (req.header(http::Field::if_none_match).find(tag) != std::string_view::npos) {
    res.status = 304;
  } else {
    std::string name = key;
    auto blob = co_await photos_.media(std::move(name));
    if (!blob) co_return error_response(blob.error());
    res.stream = std::make_shared<BlobBody>(std::move(*blob));
    res.content_type = media_type(key);
  }
  res.header("ETag", tag);
  CachePolicy::immutable(res);
  co_return res;
}

boost::asio::awaitable<Response> PhotosApi::edit(http::Request& req) {
  auto id = parse_id(req.params[0]);
  if (!id) co_return error_response(id.error());
  auto who = co_await auth_.principal(req);
  if (!who) co_return error_response(who.error());
  auto body = parse_json_body(req, max_json_depth_);
  if (!body) co_return error_response(body.error());
  const auto* object = body->if_object();
  const auto* list = object ? object->if_contains("operations") : nullptr;
  if (!list || object->size() != 1)
    co_return error_response(Error{Errc::invalid_argument, "body: must be {\"operations\":[...]}"});
  auto steps = operations_from_json(*list);
  if (!steps) co_return error_response(steps.error());
  app::JobOrigin origin{.request_id = std::string(req.request_id),
                        .traceparent = req.trace().traceparent()};
  auto job = co_await photos_.edit(*who, *id, std::move(*steps), std::move(origin));
  if (!job) co_return error_response(job.error());
  Response res = json_response(
      202, {{"id", job->id}, {"status", "queued"}, {"url", "/jobs/" + std::to_string(job->id)}});
  res.header("Location", "/jobs/" + std::to_string(job->id));
  co_return res;
}

boost::asio::awaitable<Response> PhotosApi::job(http::Request& req) {
  auto id = parse_id(req.params[0]);
  if (!id) co_return error_response(id.error());
  auto job = co_await photos_.job(*id);
  if (!job) co_return error_response(job.error());
  boost::system::error_code ec;  // the steps were stored by us, as JSON; null if not
  json::object out{{"id", job->id},
                   {"photoId", job->photo_id},
                   {"status", to_string(job->status)},
                   {"attempts", job->attempts},
                   {"operations", json::parse(job->operations, ec)},
                   {"result", nullptr},
                   {"error", job->error.empty() ? json::value(nullptr) : json::value(job->error)}};
  if (job->status == JobStatus::done) {
    auto result = co_await photos_.get(job->result_photo_id);
    if (result) out["result"] = photo_json(*result);
  }
  Response res = json_response(200, out);
  res.header("Cache-Control", "no-store");
  co_return res;
}

}  // namespace ztm::api
