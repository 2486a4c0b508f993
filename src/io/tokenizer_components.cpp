// Normalizers and pre-tokenizers of tokenizer.json, following the reference `tokenizers` library.
#include <nlohmann/json.hpp>

#include <algorithm>

#include "core/error.h"
#include "io/tokenizer_components.h"
#include "io/tokenizer_json.h"
#include "io/tokenizer_llama3_split.h"
#include "io/tokenizer_pattern.h"
#include "io/unicode.h"

namespace glint::tokenizer_detail {
namespace {

using nlohmann::json;

// ---------------------------------------------------------------- normalizers

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  void normalize(std::string& text) const override {
    for (const auto& part : parts_) part->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

class ReplaceNormalizer final : public Normalizer {
 public:
  ReplaceNormalizer(Pattern pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void normalize(std::string& text) const override { text = pattern_.replace_all(text, content_); }

 private:
  Pattern pattern_;
  std::string content_;
};

class PrependNormalizer final : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

class StripNormalizer final : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& text) const override {
    size_t begin = 0, end = text.size();
    if (left_) {
      size_t pos = 0;
      while (pos < end) {
        size_t next = pos;
        if (!unicode::is_white_space(unicode::next_code_point(text, next))) break;
        pos = next;
      }
      begin = pos;
    }
    if (right_) {
      // Walk forward remembering where the last non-space character ended.
      size_t pos = begin, last_end = begin;
      while (pos < end) {
        const char32_t c = unicode::next_code_point(text, pos);
        if (!unicode::is_white_space(c)) last_end = pos;
      }
      end = last_end;
    }
    text = text.substr(begin, end - begin);
  }

 private:
  bool left_, right_;
};

// ---------------------------------------------------------------- pre-tokenizers

// Replaces every text piece by the pieces `split` returns for it: ranges into the (possibly rewritten) text.
template <typename SplitFunction>
void split_pieces(Pieces& pieces, SplitFunction split) {
  Pieces result;
  result.reserve(pieces.size());
  for (Piece& piece : pieces) {
    if (piece.token_id >= 0) {
      result.push_back(std::move(piece));
      continue;
    }
    const std::vector<std::pair<size_t, size_t>> ranges = split(piece);
    for (const auto& [begin, end] : ranges) {
      if (begin == end) continue;
      result.push_back({piece.text.substr(begin, end - begin), -1, piece.at_original_start && begin == 0});
    }
  }
  pieces = std::move(result);
}

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  void pre_tokenize(Pieces& pieces) const override {
    for (const auto& part : parts_) part->pre_tokenize(pieces);
  }
  bool can_stream() const override {
    return std::all_of(parts_.begin(), parts_.end(), [](const auto& part) { return part->can_stream(); });
  }
  void stream(std::string_view text, PieceSink& sink) const override { stream_from(0, text, sink); }
  // The later parts see each piece of the first alone, so a cut that keeps the first part's pieces keeps all.
  size_t stream_cut(std::string_view text, size_t from) const override {
    return parts_.empty() ? std::string_view::npos : parts_[0]->stream_cut(text, from);
  }

 private:
  // Each piece part `index` makes goes through the later parts before the next one is made.
  void stream_from(size_t index, std::string_view text, PieceSink& sink) const {
    if (index == parts_.size()) {
      if (!text.empty()) sink.take(text);
      return;
    }
    struct NextPart final : PieceSink {
      const SequencePreTokenizer* sequence;
      size_t next_index;
      PieceSink* sink;
      void take(std::string_view piece) override { sequence->stream_from(next_index, piece, *sink); }
    } next;
    next.sequence = this;
    next.next_index = index + 1;
    next.sink = &sink;
    parts_[index]->stream(text, next);
  }

  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

class SplitPreTokenizer final : public PreTokenizer {
 public:
  SplitPreTokenizer(Pattern pattern, SplitBehavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(Pieces& pieces) const override {
    if (behavior_ == SplitBehavior::kIsolated) {
      split_isolated(pieces);
      return;
    }
    split_pieces(pieces, [&](const Piece& piece) {
      auto segments = pattern_.find_segments(piece.text);
      if (invert_)
        for (auto& s : segments) s.is_match = !s.is_match;
      return apply_split_behavior(std::move(segments), behavior_);
    });
  }
  bool can_stream() const override { return behavior_ == SplitBehavior::kIsolated; }
  // The pieces of split_isolated, straight from the matches as the search finds them.
  void stream(std::string_view text, PieceSink& sink) const override {
    size_t previous = 0;
    pattern_.for_each_match(text, [&](size_t begin, size_t end) {
      if (previous < begin) sink.take(text.substr(previous, begin - previous));
      if (begin < end) sink.take(text.substr(begin, end - begin));
      previous = end;
    });
    if (previous < text.size()) sink.take(text.substr(previous));
  }
  size_t stream_cut(std::string_view text, size_t from) const override {
    if (behavior_ != SplitBehavior::kIsolated || !pattern_.uses_hand_matcher()) return std::string_view::npos;
    return Llama3Splitter::independent_start(text, from);
  }

 private:
  // Isolated keeps every match and every gap between matches as a piece (so `invert` changes nothing): the
  // pieces come straight from the matches, without the segment lists of the other behaviours, which for a
  // large input (Llama 3: one piece per word) cost more than the regex itself.
  void split_isolated(Pieces& pieces) const {
    Pieces result;
    result.reserve(pieces.size());
    for (Piece& piece : pieces) {
      if (piece.token_id >= 0) {
        result.push_back(std::move(piece));
        continue;
      }
      const std::vector<std::pair<size_t, size_t>> matches = pattern_.find_matches(piece.text);
      const size_t needed = result.size() + matches.size() * 2 + 1;
      if (result.capacity() < needed) result.reserve(std::max(needed, result.capacity() * 2));
      auto emit = [&](size_t begin, size_t end) {
        if (begin < end) result.push_back({piece.text.substr(begin, end - begin), -1, piece.at_original_start && begin == 0});
      };
      size_t previous = 0;
      for (const auto& [begin, end] : matches) {
        emit(previous, begin);
        emit(begin, end);
        previous = end;
      }
      emit(previous, piece.text.size());
    }
    pieces = std::move(result);
  }

  Pattern pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

// Splits on single characters chosen by a predicate (Digits, WhitespaceSplit, Punctuation).
template <typename Predicate>
class CharSplitPreTokenizer final : public PreTokenizer {
 public:
  CharSplitPreTokenizer(Predicate predicate, SplitBehavior behavior) : predicate_(predicate), behavior_(behavior) {}
  void pre_tokenize(Pieces& pieces) const override {
    split_pieces(pieces, [&](const Piece& piece) {
      return apply_split_behavior(find_char_segments(piece.text, predicate_), behavior_);
    });
  }

 private:
  Predicate predicate_;
  SplitBehavior behavior_;
};
template <typename Predicate>
std::unique_ptr<PreTokenizer> make_char_split(Predicate predicate, SplitBehavior behavior) {
  return std::make_unique<CharSplitPreTokenizer<Predicate>>(predicate, behavior);
}

// A predicate for one character backed by a PCRE2 class such as \p{N} (so Unicode tables come from PCRE2).
class CharClass {
 public:
  explicit CharClass(const std::string& pattern) : regex_(std::make_shared<Regex>(pattern)) {
    for (int c = 0; c < 128; ++c) ascii_[c] = regex_->matches_at_start(std::string(1, static_cast<char>(c)));
  }
  bool operator()(char32_t c) const {
    if (c < 128) return ascii_[c];
    std::string text;
    unicode::append_utf8(text, c);
    return regex_->matches_at_start(text);
  }

 private:
  std::shared_ptr<Regex> regex_;
  std::array<bool, 128> ascii_{};
};

constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), regex_(use_regex ? std::make_shared<Regex>(kGpt2Pattern) : nullptr) {}
  void pre_tokenize(Pieces& pieces) const override {
    if (!regex_) {  // no split (Llama 3 splits before this step): prefix the pieces in place
      for (Piece& piece : pieces) {
        if (piece.token_id < 0 && add_prefix_space_ && !piece.text.starts_with(' ')) piece.text.insert(0, " ");
      }
      std::erase_if(pieces, [](const Piece& piece) { return piece.token_id < 0 && piece.text.empty(); });
    } else {
      split_gpt2(pieces);
    }
    map_bytes(pieces);
  }
  bool can_stream() const override { return !regex_; }
  void stream(std::string_view text, PieceSink& sink) const override {
    const bool prefix = add_prefix_space_ && !text.starts_with(' ');
    const size_t size = text.size() + (prefix ? 1 : 0);
    if (size == 0) return;
    constexpr size_t kShortPiece = 128;  // bytes: mapped on the stack (nearly every piece)
    char short_buffer[2 * kShortPiece];
    std::string long_buffer;
    char* mapped = short_buffer;
    if (size > kShortPiece) {
      long_buffer.resize(2 * size);
      mapped = long_buffer.data();
    }
    size_t length = 0;
    auto map = [&](unsigned char byte) {
      const LevelChar& level = level_chars_[byte];
      mapped[length] = level.bytes[0];
      mapped[length + 1] = level.bytes[1];
      length += level.length;
    };
    if (prefix) map(' ');
    for (char c : text) map(static_cast<unsigned char>(c));
    sink.take(std::string_view(mapped, length));
  }

 private:
  void split_gpt2(Pieces& pieces) const {
    split_pieces(pieces, [&](Piece& piece) -> std::vector<std::pair<size_t, size_t>> {
      if (add_prefix_space_ && !piece.text.starts_with(' ')) piece.text.insert(0, " ");
      std::vector<Segment> segments;
      size_t previous = 0;
      for (const auto& [begin, end] : regex_->find_all(piece.text)) {
        if (previous != begin) segments.push_back({previous, begin, false});
        segments.push_back({begin, end, true});
        previous = end;
      }
      if (previous != piece.text.size()) segments.push_back({previous, piece.text.size(), false});
      return apply_split_behavior(std::move(segments), SplitBehavior::kIsolated);
    });
  }

  void map_bytes(Pieces& pieces) const {
    std::string mapped;  // reused: most pieces are short, so assigning them back needs no allocation
    for (Piece& piece : pieces) {
      if (piece.token_id >= 0) continue;
      mapped.resize(piece.text.size() * 2);
      size_t length = 0;
      for (char c : piece.text) {
        const LevelChar& level = level_chars_[static_cast<unsigned char>(c)];
        mapped[length] = level.bytes[0];
        mapped[length + 1] = level.bytes[1];
        length += level.length;
      }
      piece.text.assign(mapped.data(), length);
    }
  }

  // The byte-level character of each byte as UTF-8 (one or two bytes).
  struct LevelChar {
    char bytes[2];
    uint8_t length;
  };
  static std::array<LevelChar, 256> make_level_chars() {
    std::array<LevelChar, 256> chars{};
    const auto& table = unicode::byte_to_level_char();
    for (int b = 0; b < 256; ++b) {
      GLINT_CHECK(!table[b].empty() && table[b].size() <= 2, "byte-level character of byte ", b, " is not 1-2 bytes");
      chars[b].bytes[0] = table[b][0];
      chars[b].bytes[1] = table[b].size() > 1 ? table[b][1] : 0;
      chars[b].length = static_cast<uint8_t>(table[b].size());
    }
    return chars;
  }
  std::array<LevelChar, 256> level_chars_ = make_level_chars();
  bool add_prefix_space_;
  std::shared_ptr<Regex> regex_;
};

enum class PrependScheme { kAlways, kFirst, kNever };

PrependScheme parse_prepend_scheme(const json& config) {
  std::string scheme = field<std::string>(config, "prepend_scheme", "");
  if (scheme.empty()) return field<bool>(config, "add_prefix_space", true) ? PrependScheme::kAlways : PrependScheme::kNever;
  if (scheme == "always") return PrependScheme::kAlways;
  if (scheme == "first") return PrependScheme::kFirst;
  if (scheme == "never") return PrependScheme::kNever;
  fail("tokenizer.json: Metaspace prepend_scheme '", scheme, "' is unknown");
}

class MetaspacePreTokenizer final : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)),
        replacement_char_(single_char(replacement_, "Metaspace replacement")),
        scheme_(scheme),
        split_(split) {}
  void pre_tokenize(Pieces& pieces) const override {
    split_pieces(pieces, [&](Piece& piece) -> std::vector<std::pair<size_t, size_t>> {
      piece.text = Pattern::literal(" ").replace_all(piece.text, replacement_);
      const bool prepend = scheme_ == PrependScheme::kAlways || (scheme_ == PrependScheme::kFirst && piece.at_original_start);
      if (prepend && !piece.text.starts_with(replacement_)) piece.text.insert(0, replacement_);
      if (!split_) return {{0, piece.text.size()}};
      const char32_t replacement = replacement_char_;
      return apply_split_behavior(find_char_segments(piece.text, [replacement](char32_t c) { return c == replacement; }),
                                  SplitBehavior::kMergedWithNext);
    });
  }

 private:
  std::string replacement_;
  char32_t replacement_char_;
  PrependScheme scheme_;
  bool split_;
};

}  // namespace

void PreTokenizer::stream(std::string_view, PieceSink&) const { fail("this pre-tokenizer cannot stream its pieces"); }

std::unique_ptr<Normalizer> make_normalizer(const json& config) {
  if (config.is_null()) return nullptr;
  const std::string type = component_type(config, "normalizer");
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> parts;
    auto it = config.find("normalizers");
    GLINT_CHECK(it != config.end() && it->is_array(), "tokenizer.json: Sequence normalizer has no \"normalizers\"");
    for (const auto& part : *it) {
      if (auto normalizer = make_normalizer(part)) parts.push_back(std::move(normalizer));
    }
    return std::make_unique<SequenceNormalizer>(std::move(parts));
  }
  if (type == "Replace") {
    return std::make_unique<ReplaceNormalizer>(parse_pattern(config, "Replace normalizer"),
                                               field<std::string>(config, "content", ""));
  }
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(field<std::string>(config, "prepend", ""));
  if (type == "Strip") {
    return std::make_unique<StripNormalizer>(field<bool>(config, "strip_left", false),
                                             field<bool>(config, "strip_right", false));
  }
  fail("tokenizer.json: normalizer '", type, "' is not supported");
}

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& config) {
  if (config.is_null()) return nullptr;
  const std::string type = component_type(config, "pre_tokenizer");
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    auto it = config.find("pretokenizers");
    GLINT_CHECK(it != config.end() && it->is_array(), "tokenizer.json: Sequence pre_tokenizer has no \"pretokenizers\"");
    for (const auto& part : *it) {
      if (auto pre_tokenizer = make_pre_tokenizer(part)) parts.push_back(std::move(pre_tokenizer));
    }
    return std::make_unique<SequencePreTokenizer>(std::move(parts));
  }
  if (type == "Split") {
    SplitBehavior behavior;
    try {
      behavior = parse_split_behavior(field<std::string>(config, "behavior", ""));
    } catch (const Error& e) {
      fail("tokenizer.json: Split pre_tokenizer: ", e.what());
    }
    return std::make_unique<SplitPreTokenizer>(parse_pattern(config, "Split pre_tokenizer"), behavior,
                                               field<bool>(config, "invert", false));
  }
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevelPreTokenizer>(field<bool>(config, "add_prefix_space", true),
                                                   field<bool>(config, "use_regex", true));
  }
  if (type == "Metaspace") {
    return std::make_unique<MetaspacePreTokenizer>(field<std::string>(config, "replacement", "\xE2\x96\x81"),
                                                   parse_prepend_scheme(config), field<bool>(config, "split", true));
  }
  if (type == "Whitespace") {
    // \w+|[^\w\s]+ keeps words and punctuation runs, dropping the whitespace between them.
    return std::make_unique<SplitPreTokenizer>(Pattern::regex(R"(\w+|[^\w\s]+)"), SplitBehavior::kRemoved, true);
  }
  if (type == "WhitespaceSplit") {
    return make_char_split([](char32_t c) { return unicode::is_white_space(c); }, SplitBehavior::kRemoved);
  }
  if (type == "Digits") {
    return make_char_split(CharClass(R"(\p{N})"), field<bool>(config, "individual_digits", false)
                                                      ? SplitBehavior::kIsolated
                                                      : SplitBehavior::kContiguous);
  }
  if (type == "Punctuation") {
    SplitBehavior behavior = SplitBehavior::kIsolated;
    if (config.contains("behavior")) behavior = parse_split_behavior(field<std::string>(config, "behavior", ""));
    return make_char_split(CharClass(R"([\p{P}!-/:-@\[-`{-~])"), behavior);
  }
  fail("tokenizer.json: pre_tokenizer '", type, "' is not supported");
}

}  // namespace glint::tokenizer_detail
