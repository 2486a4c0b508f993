// Loading tokenizer.json and the encode/decode pipeline:
// added tokens -> normalizer -> pre-tokenizer -> BPE -> post-processor, and ids -> tokens -> decoder.
#include "io/tokenizer.h"

#include <nlohmann/json.hpp>

#include <array>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/thread_pool.h"
#include "io/tokenizer_impl.h"
#include "io/unicode.h"

namespace glint {

using tokenizer_detail::AddedToken;
using tokenizer_detail::Piece;
using tokenizer_detail::Pieces;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  GLINT_CHECK(in, "cannot open tokenizer file '", path, "'");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  GLINT_CHECK(in.good() || in.eof(), "cannot read tokenizer file '", path, "'");
  return buffer.str();
}

bool flag(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

void load_added_tokens(Tokenizer::Impl& impl, const nlohmann::json& root) {
  auto list = root.find("added_tokens");
  if (list == root.end() || list->is_null()) return;
  GLINT_CHECK(list->is_array(), "\"added_tokens\" must be a list");
  // Ids follow the reference: an existing added/model token keeps its id, new contents are numbered from the
  // model's vocab size; the "id" field of the file is not used.
  int32_t next_id = static_cast<int32_t>(impl.model->vocab_size());
  for (const auto& entry : *list) {
    GLINT_CHECK(entry.is_object() && entry.contains("content") && entry["content"].is_string(),
                "added token ", entry.dump(), " has no content");
    AddedToken token;
    token.content = entry["content"].get<std::string>();
    if (token.content.empty()) continue;
    token.special = flag(entry, "special");
    token.single_word = flag(entry, "single_word");
    token.lstrip = flag(entry, "lstrip");
    token.rstrip = flag(entry, "rstrip");
    token.normalized = flag(entry, "normalized");
    token.decode_text = token.content;
    if (token.normalized && impl.normalizer) impl.normalizer->normalize(token.decode_text);

    if (auto it = impl.added_by_content.find(token.content); it != impl.added_by_content.end()) {
      token.id = it->second;
    } else if (auto model_id = impl.model->token_to_id(token.content)) {
      token.id = *model_id;
    } else {
      token.id = next_id++;
    }
    impl.added_by_content[token.content] = token.id;
    if (token.special) impl.special_contents.insert(token.content);
    if (auto it = impl.added_by_id.find(token.id); it != impl.added_by_id.end()) {
      impl.added_tokens[it->second] = std::move(token);
    } else {
      impl.added_by_id[token.id] = impl.added_tokens.size();
      impl.added_tokens.push_back(std::move(token));
    }
  }
  std::vector<std::string> raw_patterns, normalized_patterns;
  std::vector<const AddedToken*> raw_tokens, normalized_tokens;
  for (const AddedToken& token : impl.added_tokens) {
    if (token.normalized) {
      normalized_patterns.push_back(token.decode_text);
      normalized_tokens.push_back(&token);
    } else {
      raw_patterns.push_back(token.content);
      raw_tokens.push_back(&token);
    }
  }
  impl.raw_matcher.build(std::move(raw_patterns), std::move(raw_tokens));
  impl.normalized_matcher.build(std::move(normalized_patterns), std::move(normalized_tokens));
}

// Parses tokenizer.json, moving model.vocab and model.merges into `tables` as they stream past instead of
// building JSON values for them.
nlohmann::json parse_capturing_tables(std::string_view text, tokenizer_detail::BpeTables& tables) {
  using Event = nlohmann::json::parse_event_t;
  std::string top_key, model_key, vocab_key;
  std::vector<std::string> pending_pair;
  bool in_model_object = false;
  auto callback = [&](int depth, Event event, nlohmann::json& parsed) -> bool {
    if (event == Event::key) {
      if (depth == 1) top_key = parsed.get<std::string>();
      if (depth == 2 && in_model_object) model_key = parsed.get<std::string>();
      if (depth == 3 && in_model_object && model_key == "vocab") {
        vocab_key = parsed.get<std::string>();
        return false;  // the entry is kept in `tables`, not in the DOM
      }
      return true;
    }
    if (event == Event::object_start && depth == 1) {
      in_model_object = top_key == "model";
      if (in_model_object) model_key.clear();
    }
    if (event == Event::object_end && depth == 1) in_model_object = false;
    if (!in_model_object) return true;
    if (model_key == "vocab" && depth == 3 && event == Event::value) {
      if (parsed.is_number_integer()) {
        tables.vocab.emplace_back(std::move(vocab_key), parsed.get<int64_t>());
      } else if (tables.error.empty()) {
        tables.error = "model.vocab entry '" + vocab_key + "' has an invalid id";
      }
      return false;
    }
    if (model_key == "merges") {
      if (depth == 3 && event == Event::value) {
        if (parsed.is_string()) {
          tables.merge_lines.push_back(parsed.get<std::string>());
        } else if (tables.error.empty()) {
          tables.error = "model.merges entry " + parsed.dump() + " is not \"a b\" or [\"a\", \"b\"]";
        }
        return false;
      }
      if (depth == 3 && event == Event::array_start) pending_pair.clear();
      if (depth == 4 && event == Event::value) {
        pending_pair.push_back(parsed.is_string() ? parsed.get<std::string>() : std::string());
        if (!parsed.is_string() && tables.error.empty()) tables.error = "model.merges holds a non-string";
        return false;
      }
      if (depth == 3 && event == Event::array_end) {
        if (pending_pair.size() == 2) {
          tables.merges.emplace_back(std::move(pending_pair[0]), std::move(pending_pair[1]));
        } else if (tables.error.empty()) {
          tables.error = "model.merges has an entry that is not a pair";
        }
        return false;
      }
    }
    return true;
  };
  nlohmann::json root = nlohmann::json::parse(text, callback);
  tables.captured = true;
  return root;
}

std::optional<int32_t> find_bos(const Tokenizer::Impl& impl) {
  if (impl.post_processor) {
    if (auto id = impl.post_processor->leading_special_id()) return id;
  }
  for (const char* name : {"<bos>", "<s>", "<|begin_of_text|>", "<|startoftext|>"}) {
    if (auto it = impl.added_by_content.find(name); it != impl.added_by_content.end()) return it->second;
  }
  return std::nullopt;
}

}  // namespace

Tokenizer Tokenizer::from_json_string(std::string_view tokenizer_json, const std::string& origin) {
  try {
    nlohmann::json root;
    tokenizer_detail::BpeTables tables;
    try {
      root = parse_capturing_tables(tokenizer_json, tables);
    } catch (const nlohmann::json::exception& e) {
      fail("not valid JSON: ", e.what());
    }
    GLINT_CHECK(root.is_object(), "the top level must be a JSON object");
    auto impl = std::make_shared<Impl>();
    auto component = [&](const char* key) -> const nlohmann::json& {
      static const nlohmann::json null_json;
      auto it = root.find(key);
      return it == root.end() ? null_json : *it;
    };
    GLINT_CHECK(root.contains("model"), "no \"model\"");
    impl->model = std::make_unique<tokenizer_detail::BpeModel>(root["model"], std::move(tables));
    impl->normalizer = tokenizer_detail::make_normalizer(component("normalizer"));
    impl->pre_tokenizer = tokenizer_detail::make_pre_tokenizer(component("pre_tokenizer"));
    impl->decoder = tokenizer_detail::make_decoder(component("decoder"));
    load_added_tokens(*impl, root);
    impl->post_processor = tokenizer_detail::make_post_processor(component("post_processor"));
    if (const auto& truncation = component("truncation"); !truncation.is_null()) {
      fail("truncation settings are not supported");
    }

    // Vocab size counts distinct strings like the reference; the id limit also covers any holes.
    int64_t overlapping = 0;
    int32_t max_id = impl->model->max_id();
    for (const AddedToken& token : impl->added_tokens) {
      if (impl->model->token_to_id(token.content)) ++overlapping;
      max_id = std::max(max_id, token.id);
    }
    impl->vocab_size = static_cast<int32_t>(static_cast<int64_t>(impl->model->vocab_size()) +
                                            static_cast<int64_t>(impl->added_by_content.size()) - overlapping);
    impl->id_limit = std::max(impl->vocab_size, max_id + 1);
    impl->bos = find_bos(*impl);
    return Tokenizer(std::move(impl));
  } catch (const Error& e) {
    fail("tokenizer ", origin, ": ", e.what());
  }
}

Tokenizer Tokenizer::from_file(const std::string& tokenizer_json_path) {
  return from_json_string(read_file(tokenizer_json_path), tokenizer_json_path);
}

Tokenizer Tokenizer::from_dir(const std::string& model_dir) {
  const std::filesystem::path path = std::filesystem::path(model_dir) / "tokenizer.json";
  GLINT_CHECK(std::filesystem::is_regular_file(path), "model directory '", model_dir,
              "' has no tokenizer.json (expected ", path.string(), ")");
  return from_file(path.string());
}

tokenizer_detail::Pieces Tokenizer::Impl::normalized(Pieces raw) const {
  Pieces pieces;
  pieces.reserve(raw.size());
  for (Piece& piece : raw) {
    if (piece.token_id >= 0) {
      pieces.push_back(std::move(piece));
      continue;
    }
    if (normalizer) normalizer->normalize(piece.text);
    normalized_matcher.split(std::move(piece), pieces);
  }
  return pieces;
}

tokenizer_detail::Pieces Tokenizer::Impl::pre_tokenized(Pieces raw) const {
  Pieces pieces = normalized(std::move(raw));
  if (pre_tokenizer) pre_tokenizer->pre_tokenize(pieces);
  return pieces;
}

void Tokenizer::Impl::append_model_ids(const Pieces& pieces, std::vector<int32_t>& ids) const {
  constexpr size_t kPrefetchAhead = 4;  // pieces: lets the word-cache lookups of nearby words overlap
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (i + kPrefetchAhead < pieces.size()) model->prefetch(pieces[i + kPrefetchAhead].text);
    const Piece& piece = pieces[i];
    if (piece.token_id >= 0) {
      ids.push_back(piece.token_id);
    } else {
      model->tokenize(piece.text, ids);
    }
  }
}

namespace {

// Hands streamed pieces to the model kPrefetchAhead pieces behind the pre-tokenizer, so that their word-cache
// lookups are prefetched as in append_model_ids. Pending pieces are copied into reused buffers (a few bytes
// each): the streamed views do not outlive the call.
class ModelFeed final : public tokenizer_detail::PieceSink {
 public:
  ModelFeed(const tokenizer_detail::BpeModel& model, std::vector<int32_t>& ids) : model_(model), ids_(ids) {}
  void take(std::string_view text) override {
    std::string& slot = pending_[(first_ + count_) % kSlots];
    slot.assign(text);
    model_.prefetch(slot);
    if (++count_ > kPrefetchAhead) tokenize_oldest();
  }
  void flush() {
    while (count_ > 0) tokenize_oldest();
  }

 private:
  static constexpr size_t kPrefetchAhead = 4;
  static constexpr size_t kSlots = kPrefetchAhead + 1;
  void tokenize_oldest() {
    model_.tokenize(pending_[first_], ids_);
    first_ = (first_ + 1) % kSlots;
    --count_;
  }

  const tokenizer_detail::BpeModel& model_;
  std::vector<int32_t>& ids_;
  std::array<std::string, kSlots> pending_;
  size_t first_ = 0, count_ = 0;
};

}  // namespace

void Tokenizer::Impl::append_streamed_ids(Pieces raw, std::vector<int32_t>& ids) const {
  ModelFeed feed(*model, ids);
  for (const Piece& piece : normalized(std::move(raw))) {
    if (piece.token_id >= 0) {
      feed.flush();
      ids.push_back(piece.token_id);
    } else {
      pre_tokenizer->stream(piece.text, feed);
    }
  }
  feed.flush();
}

void Tokenizer::Impl::append_streamed_ids_in_parts(Pieces raw, size_t part_bytes, std::vector<int32_t>& ids) const {
  const Pieces pieces = normalized(std::move(raw));
  struct Part {
    const Piece* piece;
    size_t begin, end;  // bytes of piece->text
  };
  std::vector<Part> parts;
  for (const Piece& piece : pieces) {
    size_t begin = 0;
    if (piece.token_id < 0) {
      while (piece.text.size() - begin > part_bytes) {
        const size_t cut = pre_tokenizer->stream_cut(piece.text, begin + part_bytes);
        if (cut >= piece.text.size()) break;  // npos included
        parts.push_back({&piece, begin, cut});
        begin = cut;
      }
    }
    parts.push_back({&piece, begin, piece.text.size()});
  }
  std::vector<std::vector<int32_t>> part_ids(parts.size());
  parallel_for(static_cast<int64_t>(parts.size()), 1, [&](int64_t first, int64_t last) {
    for (auto k = static_cast<size_t>(first); k < static_cast<size_t>(last); ++k) {
      const Part& part = parts[k];
      if (part.piece->token_id >= 0) {
        part_ids[k].push_back(part.piece->token_id);
        continue;
      }
      ModelFeed feed(*model, part_ids[k]);
      pre_tokenizer->stream(std::string_view(part.piece->text).substr(part.begin, part.end - part.begin), feed);
      feed.flush();
    }
  });
  size_t total = ids.size();
  for (const auto& part : part_ids) total += part.size();
  ids.reserve(total + 4);
  for (const auto& part : part_ids) ids.insert(ids.end(), part.begin(), part.end());
}

namespace {

// Inputs at least this long are encoded on the thread pool.
constexpr size_t kParallelEncodeBytes = size_t{1} << 18;

// Consecutive runs of `pieces` of about `target_bytes` each (order kept).
std::vector<Pieces> group_pieces(Pieces pieces, size_t target_bytes) {
  std::vector<Pieces> groups(1);
  size_t bytes = 0;
  for (Piece& piece : pieces) {
    if (bytes >= target_bytes) {
      groups.emplace_back();
      bytes = 0;
    }
    bytes += piece.text.size() + 1;
    groups.back().push_back(std::move(piece));
  }
  return groups;
}

}  // namespace

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  if (auto bad = unicode::find_invalid_utf8(text)) {
    fail("tokenizer input is not valid UTF-8 (byte offset ", *bad, ")");
  }
  const Impl& impl = *impl_;
  Pieces raw;
  impl.raw_matcher.split(Piece{std::string(text), -1, true}, raw);
  std::vector<int32_t> ids;
  const int threads = thread_count();
  if (text.size() < kParallelEncodeBytes || threads < 2) {
    ids.reserve(text.size() / 3 + 4);
    if (impl.pre_tokenizer && impl.pre_tokenizer->can_stream()) {
      impl.append_streamed_ids(std::move(raw), ids);
    } else {
      impl.append_model_ids(impl.pre_tokenized(std::move(raw)), ids);
    }
  } else {
    // Every piece encodes on its own, so groups of pieces can be encoded in parallel and their ids joined in
    // order. The groups are small enough for the pool to balance them over its threads.
    const size_t group_bytes = text.size() / (static_cast<size_t>(threads) * 8) + 1;
    std::vector<Pieces> groups = group_pieces(std::move(raw), group_bytes);
    const bool pre_tokenize_in_groups = groups.size() >= static_cast<size_t>(threads) * 2;
    const bool stream_in_parts = !pre_tokenize_in_groups && impl.pre_tokenizer && impl.pre_tokenizer->can_stream();
    if (stream_in_parts) {
      // Too few pieces before pre-tokenization (Llama 3: added tokens are rare), but the pre-tokenizer can
      // stream parts of a piece on their own: parts of about group_bytes each go through pre-tokenizer and
      // model together.
      Pieces all;
      for (Pieces& group : groups) std::move(group.begin(), group.end(), std::back_inserter(all));
      impl.append_streamed_ids_in_parts(std::move(all), group_bytes, ids);
      groups.clear();
    } else if (!pre_tokenize_in_groups) {
      // Too few pieces before pre-tokenization (added tokens are rare in this text, as in Llama 3's case):
      // pre-tokenize first (a regex search of a large piece runs in parallel parts by itself), then share out
      // the model's part.
      Pieces all;
      for (Pieces& group : groups) std::move(group.begin(), group.end(), std::back_inserter(all));
      groups = group_pieces(impl.pre_tokenized(std::move(all)), group_bytes);
    }
    std::vector<std::vector<int32_t>> group_ids(groups.size());
    if (!groups.empty()) parallel_for(static_cast<int64_t>(groups.size()), 1, [&](int64_t begin, int64_t end) {
      for (int64_t g = begin; g < end; ++g) {
        Pieces& group = groups[static_cast<size_t>(g)];
        if (pre_tokenize_in_groups) group = impl.pre_tokenized(std::move(group));
        impl.append_model_ids(group, group_ids[static_cast<size_t>(g)]);
      }
    });
    size_t total = ids.size();
    for (const auto& part : group_ids) total += part.size();
    ids.reserve(total + 4);
    for (const auto& part : group_ids) ids.insert(ids.end(), part.begin(), part.end());
  }
  if (impl.post_processor) impl.post_processor->process(ids, add_special_tokens);
  return ids;
}

const std::string* Tokenizer::Impl::token_for_decode(int32_t id) const {
  if (auto it = added_by_id.find(id); it != added_by_id.end()) return &added_tokens[it->second].decode_text;
  return model->id_to_token(id);
}

std::vector<std::string> Tokenizer::Impl::tokens_for_decode(std::span<const int32_t> ids,
                                                            bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    GLINT_CHECK(id >= 0 && id < id_limit, "token id ", id, " (position ", i, ") is outside the vocabulary [0, ",
                id_limit, ")");
    const std::string* token = token_for_decode(id);
    if (!token) continue;
    if (skip_special_tokens && is_special_content(*token)) continue;
    tokens.push_back(*token);
  }
  return tokens;
}

std::string Tokenizer::Impl::run_decoder(std::vector<std::string> tokens) const {
  if (!decoder) {
    std::string joined;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i) joined.push_back(' ');
      joined += tokens[i];
    }
    return joined;
  }
  decoder->decode_chain(tokens);
  std::string joined;
  for (const std::string& token : tokens) joined += token;
  return joined;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  return impl_->run_decoder(impl_->tokens_for_decode(ids, skip_special_tokens));
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (auto it = impl_->added_by_content.find(token); it != impl_->added_by_content.end()) return it->second;
  return impl_->model->token_to_id(token);
}

std::string Tokenizer::id_to_token(int32_t id) const {
  GLINT_CHECK(id >= 0 && id < impl_->id_limit, "token id ", id, " is outside the vocabulary [0, ", impl_->id_limit,
              ")");
  const std::string* token = impl_->token_for_decode(id);
  return token ? *token : std::string();
}

int32_t Tokenizer::vocab_size() const { return impl_->vocab_size; }

bool Tokenizer::is_special(int32_t id) const {
  auto it = impl_->added_by_id.find(id);
  return it != impl_->added_by_id.end() && impl_->added_tokens[it->second].special;
}

std::optional<int32_t> Tokenizer::bos_id() const { return impl_->bos; }

}  // namespace glint
