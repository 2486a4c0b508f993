#include "io/tokenizer_bpe.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdio>

#include "core/error.h"
#include "io/unicode.h"

namespace glint::tokenizer_detail {
namespace {

std::optional<std::string> optional_string(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::nullopt;
  GLINT_CHECK(it->is_string(), "tokenizer.json: model.", key, " must be a string");
  return it->get<std::string>();
}

bool optional_bool(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return false;
  GLINT_CHECK(it->is_boolean(), "tokenizer.json: model.", key, " must be true or false");
  return it->get<bool>();
}

std::string byte_token(int byte) {
  char buffer[8];
  std::snprintf(buffer, sizeof(buffer), "<0x%02X>", byte);
  return buffer;
}

}  // namespace

namespace {
// Copies vocab/merges still inside the JSON object (when the loader did not capture them while parsing).
void tables_from_json(const nlohmann::json& model, BpeTables& tables) {
  auto vocab_it = model.find("vocab");
  GLINT_CHECK(vocab_it != model.end() && vocab_it->is_object(), "tokenizer.json: model.vocab is missing");
  for (auto it = vocab_it->begin(); it != vocab_it->end(); ++it) {
    GLINT_CHECK(it.value().is_number_integer(), "tokenizer.json: model.vocab entry '", it.key(), "' has an invalid id");
    tables.vocab.emplace_back(it.key(), it.value().get<int64_t>());
  }
  auto merges_it = model.find("merges");
  GLINT_CHECK(merges_it != model.end() && merges_it->is_array(), "tokenizer.json: model.merges is missing");
  size_t rank = 0;
  for (const auto& merge : *merges_it) {
    ++rank;
    if (merge.is_string()) {
      tables.merge_lines.push_back(merge.get<std::string>());
    } else {
      GLINT_CHECK(merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string(),
                  "tokenizer.json: merge ", rank, " must be \"a b\" or [\"a\", \"b\"]");
      tables.merges.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
    }
  }
}
}  // namespace

BpeModel::BpeModel(const nlohmann::json& model, BpeTables tables) {
  GLINT_CHECK(model.is_object(), "tokenizer.json: model must be an object");
  const std::string type = model.value("type", std::string("BPE"));
  GLINT_CHECK(type == "BPE", "tokenizer.json: model type '", type, "' is not supported (only BPE)");
  if (auto it = model.find("dropout"); it != model.end() && !it->is_null()) {
    GLINT_CHECK(it->is_number() && it->get<double>() == 0.0,
                "tokenizer.json: BPE dropout is not supported (it makes encoding random)");
  }
  unk_token_ = optional_string(model, "unk_token");
  continuing_subword_prefix_ = optional_string(model, "continuing_subword_prefix").value_or("");
  end_of_word_suffix_ = optional_string(model, "end_of_word_suffix").value_or("");
  fuse_unk_ = optional_bool(model, "fuse_unk");
  byte_fallback_ = optional_bool(model, "byte_fallback");
  ignore_merges_ = optional_bool(model, "ignore_merges");

  GLINT_CHECK(model.contains("vocab") && model["vocab"].is_object(), "tokenizer.json: model.vocab is missing");
  GLINT_CHECK(model.contains("merges") && model["merges"].is_array(), "tokenizer.json: model.merges is missing");
  if (!tables.captured) tables_from_json(model, tables);
  GLINT_CHECK(tables.error.empty(), "tokenizer.json: ", tables.error);
  GLINT_CHECK(tables.merges.empty() || tables.merge_lines.empty(),
              "tokenizer.json: model.merges mixes \"a b\" strings and [a, b] pairs");

  vocab_.reserve(tables.vocab.size());
  int32_t max_id = -1;
  for (auto& [token, wide_id] : tables.vocab) {
    GLINT_CHECK(wide_id >= 0 && wide_id < (int64_t{1} << 30), "tokenizer.json: model.vocab entry '", token,
                "' has an invalid id ", wide_id);
    const auto id = static_cast<int32_t>(wide_id);
    max_id = std::max(max_id, id);
    vocab_[std::move(token)] = id;
  }
  tables.vocab = {};
  id_to_token_.resize(static_cast<size_t>(max_id + 1));
  has_id_.resize(static_cast<size_t>(max_id + 1));
  for (const auto& [token, id] : vocab_) {
    // Several tokens may share an id; the reference keeps an arbitrary one, we keep the smallest for stability.
    if (!has_id_[id] || token < id_to_token_[id]) id_to_token_[id] = token;
    has_id_[id] = true;
  }

  merges_.reserve(tables.merges.size() + tables.merge_lines.size());
  uint32_t rank = 0;
  for (const std::string& line : tables.merge_lines) {
    if (line.starts_with("#version")) continue;  // skipped lines take no rank, as in the reference
    const size_t space = line.find(' ');
    GLINT_CHECK(space != std::string::npos && line.find(' ', space + 1) == std::string::npos,
                "tokenizer.json: merge ", rank + 1, " '", line, "' is not two tokens separated by one space");
    add_merge(line.substr(0, space), line.substr(space + 1), rank);
    ++rank;
  }
  for (const auto& [left, right] : tables.merges) {
    add_merge(left, right, rank);
    ++rank;
  }

  if (continuing_subword_prefix_.empty() && end_of_word_suffix_.empty()) {
    bmp_char_ids_.assign(0x10000, -1);
    for (const auto& [token, id] : vocab_) {
      if (token.empty() || token.size() > 3) continue;
      size_t pos = 0;
      const char32_t cp = unicode::next_code_point(token, pos);
      if (pos == token.size() && cp < 0x10000 && unicode::is_valid_utf8(token)) bmp_char_ids_[cp] = id;
    }
  }
  find_word_marker();
  byte_fallback_ids_.assign(256, -1);
  for (int b = 0; b < 256; ++b) {
    if (auto id = token_to_id(byte_token(b))) byte_fallback_ids_[b] = *id;
  }
  if (unk_token_) {
    GLINT_CHECK(vocab_.count(*unk_token_), "tokenizer.json: unk_token '", *unk_token_, "' is not in the vocab");
  }
}

void BpeModel::add_merge(const std::string& left, const std::string& right, uint32_t rank) {
  auto left_id = token_to_id(left);
  auto right_id = token_to_id(right);
  GLINT_CHECK(left_id, "tokenizer.json: merge ", rank + 1, " uses '", left, "' which is not in the vocab");
  GLINT_CHECK(right_id, "tokenizer.json: merge ", rank + 1, " uses '", right, "' which is not in the vocab");
  const size_t prefix = continuing_subword_prefix_.size();
  GLINT_CHECK(right.size() >= prefix, "tokenizer.json: merge ", rank + 1, " right side is shorter than the prefix");
  const std::string merged = left + right.substr(prefix);
  auto merged_id = token_to_id(merged);
  GLINT_CHECK(merged_id, "tokenizer.json: merge ", rank + 1, " makes '", merged, "' which is not in the vocab");
  // A repeated pair keeps the last rank, as the reference's hash map does.
  merges_.insert_or_assign(*left_id, *right_id, rank, *merged_id);
}

void BpeModel::MergeTable::reserve(size_t count) {
  size_t capacity = 16;
  int bits = 4;
  // Load factor at most two thirds: probes stay short, and the table (Gemma 3: 8 MB) stays small enough to
  // be mostly served from the last-level cache, which decides the speed of cold BPE.
  while (capacity * 2 < (count + 16) * 3) {
    capacity *= 2;
    ++bits;
  }
  slots_.assign(capacity, kEmpty);
  mask_ = capacity - 1;
  shift_ = 64 - bits;
  size_ = 0;
}

void BpeModel::MergeTable::insert_or_assign(int32_t left, int32_t right, uint32_t rank, int32_t new_id) {
  GLINT_CHECK(left <= kMaxId && right <= kMaxId && new_id <= kMaxId,
              "tokenizer.json: token ids above ", kMaxId, " are not supported");
  GLINT_CHECK(rank <= kMaxRank, "tokenizer.json: more than ", kMaxRank, " merges are not supported");
  if ((size_ + 1) * 3 > slots_.size() * 2) {
    std::vector<uint64_t> old = std::move(slots_);
    reserve(old.size());
    for (uint64_t entry : old) {
      if (entry == kEmpty) continue;
      const auto entry_rank = static_cast<uint32_t>(entry & kMaxRank);
      insert_or_assign(static_cast<int32_t>(entry >> 44), static_cast<int32_t>((entry >> 24) & 0xFFFFF), entry_rank,
                       new_ids_[entry_rank]);
    }
  }
  if (new_ids_.size() <= rank) new_ids_.resize(rank + 1, -1);
  new_ids_[rank] = new_id;
  const uint64_t pair = pair_bits(left, right);
  size_t slot = hash(pair);
  while (slots_[slot] != kEmpty && (slots_[slot] >> 24) != pair) slot = (slot + 1) & mask_;
  if (slots_[slot] == kEmpty) ++size_;
  slots_[slot] = (pair << 24) | rank;
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size() || !has_id_[id]) return nullptr;
  return &id_to_token_[id];
}

void BpeModel::find_word_marker() {
  static constexpr std::string_view kMarker = "\xE2\x96\x81";  // U+2581
  static constexpr char32_t kMarkerCodePoint = 0x2581;
  if (bmp_char_ids_.empty() || ignore_merges_ || bmp_char_ids_[kMarkerCodePoint] < 0) return;
  std::vector<bool> joins(0x10000, false);
  for (const auto& [token, id] : vocab_) {
    for (size_t at = token.find(kMarker, 1); at != std::string::npos; at = token.find(kMarker, at + 1)) {
      if (!unicode::is_valid_utf8(token)) return;  // cannot tell which character comes first: never split
      size_t start = at - 1;
      while (start > 0 && (static_cast<unsigned char>(token[start]) & 0xC0) == 0x80) --start;
      const char32_t before = unicode::next_code_point(token, start);
      if (before < 0x10000) joins[before] = true;
    }
  }
  joins_marker_ = std::move(joins);
  word_marker_ = kMarker;
}

size_t BpeModel::next_word_start(std::string_view text, size_t begin) const {
  for (size_t at = text.find(word_marker_, begin + 1); at != std::string_view::npos;
       at = text.find(word_marker_, at + 1)) {
    size_t start = at - 1;
    while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
    // The character before the marker must be its own symbol (not byte fallback or unknown, whose tokens
    // read differently) and never precede the marker inside a token.
    const char32_t before = unicode::next_code_point(text, start);
    if (before < 0x10000 && bmp_char_ids_[before] >= 0 && !joins_marker_[before]) return at;
  }
  return text.size();
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  auto hash_of = [](std::string_view part) { return part.size() <= kMaxCachedWordBytes ? WordCache::hash(part) : 0; };
  if (word_marker_.empty()) {
    tokenize_word(word, hash_of(word), out);
    return;
  }
  // Words are found a few ahead of the one being tokenized, and their cache slots prefetched, so that the
  // lookups (mostly cache misses) overlap.
  constexpr size_t kAhead = 4;
  struct Upcoming {
    size_t begin, end;
    uint64_t hash;
  };
  std::array<Upcoming, kAhead> ring;
  size_t found_end = 0, queued = 0, next = 0;
  auto find_next = [&] {
    const size_t end = next_word_start(word, found_end);
    const uint64_t hash = hash_of(word.substr(found_end, end - found_end));
    cache_.prefetch(hash);
    ring[queued++ % kAhead] = {found_end, end, hash};
    found_end = end;
  };
  while (queued < kAhead && found_end < word.size()) find_next();
  while (next < queued) {
    const Upcoming current = ring[next++ % kAhead];
    if (found_end < word.size()) find_next();
    tokenize_word(word.substr(current.begin, current.end - current.begin), current.hash, out);
  }
}

void BpeModel::tokenize_word(std::string_view word, uint64_t word_hash, std::vector<int32_t>& out) const {
  const bool cacheable = word.size() <= kMaxCachedWordBytes;
  if (cacheable && cache_.append_cached(word, word_hash, out)) return;
  const size_t first = out.size();
  // With ignore_merges a word of the vocab is its own token. The cache is asked first (it remembers those
  // words too), since it is smaller and faster than the vocab map.
  auto whole = ignore_merges_ ? vocab_.find(word) : vocab_.end();
  if (whole != vocab_.end()) {
    out.push_back(whole->second);
  } else {
    merge_word(word, out);
  }
  if (cacheable) cache_.insert(word, word_hash, std::span<const int32_t>(out).subspan(first));
}

namespace {
struct Symbol {
  int32_t id;
  int32_t prev, next;  // linked list over the word's symbols; -1 at the ends
  bool removed;
};
// A pair that merges, as queued: stale once either side has changed.
struct Candidate {
  uint32_t rank;
  int32_t pos;
  int32_t left_id, right_id;
  int32_t new_id;
  // Heap order: the top is the lowest rank, then the leftmost position.
  bool operator<(const Candidate& other) const { return rank != other.rank ? rank > other.rank : pos > other.pos; }
};
// Reused between words so that merging allocates nothing once the buffers have grown.
struct MergeScratch {
  std::vector<Symbol> symbols;
  std::vector<Candidate> queue;
};
thread_local MergeScratch merge_scratch;
}  // namespace

void BpeModel::merge_word(std::string_view word, std::vector<int32_t>& out) const {
  std::vector<Symbol>& symbols = merge_scratch.symbols;
  symbols.clear();
  auto add_symbol = [&](int32_t id) {
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, index - 1, -1, false});
    if (index > 0) symbols[index - 1].next = index;
  };

  // 1. One symbol per character (or per byte with byte fallback, or a run of unknowns).
  int32_t pending_unk = -1;  // an unknown-token run not yet added
  std::string piece;
  size_t pos = 0;
  while (pos < word.size()) {
    const size_t begin = pos;
    pos += unicode::utf8_length_from_lead(static_cast<unsigned char>(word[pos]));
    std::string_view character = word.substr(begin, pos - begin);
    if (!bmp_char_ids_.empty() && character.size() <= 3) {
      size_t probe = begin;
      const int32_t id = bmp_char_ids_[unicode::next_code_point(word, probe)];
      if (id >= 0) {
        if (pending_unk >= 0) {
          add_symbol(pending_unk);
          pending_unk = -1;
        }
        add_symbol(id);
        continue;
      }
    }
    std::string_view lookup = character;
    if (!continuing_subword_prefix_.empty() || !end_of_word_suffix_.empty()) {
      piece.clear();
      if (begin != 0) piece += continuing_subword_prefix_;
      piece += character;
      if (pos >= word.size()) piece += end_of_word_suffix_;
      lookup = piece;
    }
    if (auto it = vocab_.find(lookup); it != vocab_.end()) {
      if (pending_unk >= 0) {
        add_symbol(pending_unk);
        pending_unk = -1;
      }
      add_symbol(it->second);
      continue;
    }
    if (byte_fallback_) {
      bool all_bytes_known = true;
      for (char c : lookup) all_bytes_known = all_bytes_known && byte_fallback_ids_[static_cast<unsigned char>(c)] >= 0;
      if (all_bytes_known) {
        // Like the reference, a pending unknown is not flushed here, so it lands after these bytes.
        for (char c : lookup) add_symbol(byte_fallback_ids_[static_cast<unsigned char>(c)]);
        continue;
      }
    }
    if (unk_token_) {
      const int32_t unk_id = vocab_.find(*unk_token_)->second;
      if (pending_unk >= 0 && !fuse_unk_) add_symbol(pending_unk);
      if (pending_unk < 0 || !fuse_unk_) pending_unk = unk_id;
    }
    // Without an unk token the character is dropped, as the reference does.
  }
  if (pending_unk >= 0) add_symbol(pending_unk);

  // 2. Apply merges lowest rank first (leftmost on ties); stale queue entries are skipped.
  std::vector<Candidate>& queue = merge_scratch.queue;
  queue.clear();
  auto push_pair = [&](int32_t left) {
    const int32_t right = symbols[left].next;
    if (right < 0) return;
    if (const auto merge = merges_.find(symbols[left].id, symbols[right].id)) {
      queue.push_back({merge->rank, left, symbols[left].id, symbols[right].id, merge->new_id});
      std::push_heap(queue.begin(), queue.end());
    }
  };
  // Table probes are cache misses; prefetching them all first lets the memory system overlap them.
  for (size_t i = 0; i + 1 < symbols.size(); ++i) merges_.prefetch(symbols[i].id, symbols[i + 1].id);
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) push_pair(i);
  while (!queue.empty()) {
    std::pop_heap(queue.begin(), queue.end());
    const Candidate top = queue.back();
    queue.pop_back();
    Symbol& left = symbols[top.pos];
    if (left.removed || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    // Same test as the reference (the pair still merges into new_id): merged tokens only grow, so that holds
    // exactly when neither symbol changed since the entry was queued.
    if (left.id != top.left_id || right.id != top.right_id) continue;
    left.id = top.new_id;
    right.removed = true;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    if (left.prev >= 0) merges_.prefetch(symbols[left.prev].id, left.id);
    if (left.next >= 0) merges_.prefetch(left.id, symbols[left.next].id);
    if (left.prev >= 0) push_pair(left.prev);
    push_pair(top.pos);
  }
  for (const Symbol& s : symbols)
    if (!s.removed) out.push_back(s.id);
}

}  // namespace glint::tokenizer_detail
