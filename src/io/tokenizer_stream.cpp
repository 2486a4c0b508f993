// StreamingDecoder: decodes a small window of recent ids and returns only the newly completed text.
//
// Text is held back while it may still change: trailing U+FFFD (an incomplete UTF-8 sequence that a later byte
// token can complete) and, for ByteFallback decoders, a run of <0xAB> tokens that is still open (a later byte
// can turn an already valid run into one U+FFFD per byte). Once the window's text is final, the window shrinks
// to its last id, which keeps context-dependent decoders (Metaspace's first-token rule, Strip) consistent
// because the kept id's text is subtracted from later decodes.
#include "core/error.h"
#include "io/tokenizer.h"
#include "io/tokenizer_impl.h"

namespace glint {
namespace {

constexpr size_t kMaxWindowBeforeShrink = 4;
constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";

bool is_byte_token(const std::string& token) {
  return token.size() == 6 && token.starts_with("<0x") && token.back() == '>';
}

}  // namespace

StreamingDecoder::StreamingDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_tokens_(skip_special_tokens) {}

std::string StreamingDecoder::push(int32_t id) {
  const Tokenizer::Impl& impl = tokenizer_.impl();
  GLINT_CHECK(id >= 0 && id < impl.id_limit, "token id ", id, " is outside the vocabulary [0, ", impl.id_limit, ")");
  window_.push_back(id);
  std::vector<std::string> tokens = impl.tokens_for_decode(window_, skip_special_tokens_);
  if (impl.decoder && impl.decoder->has_byte_fallback() && !tokens.empty() && is_byte_token(tokens.back())) {
    return {};
  }
  const std::string text = impl.run_decoder(std::move(tokens));
  size_t stable_end = text.size();
  while (stable_end >= kReplacementChar.size() &&
         std::string_view(text).substr(stable_end - kReplacementChar.size(), kReplacementChar.size()) ==
             kReplacementChar) {
    stable_end -= kReplacementChar.size();
  }
  std::string out;
  if (stable_end > emitted_bytes_) {
    out = text.substr(emitted_bytes_, stable_end - emitted_bytes_);
    emitted_bytes_ = stable_end;
  }
  if (stable_end == text.size() && window_.size() >= kMaxWindowBeforeShrink) {
    window_.erase(window_.begin(), window_.end() - 1);
    emitted_bytes_ = impl.run_decoder(impl.tokens_for_decode(window_, skip_special_tokens_)).size();
  }
  return out;
}

std::string StreamingDecoder::flush() {
  const Tokenizer::Impl& impl = tokenizer_.impl();
  std::string out;
  if (!window_.empty()) {
    const std::string text = impl.run_decoder(impl.tokens_for_decode(window_, skip_special_tokens_));
    if (text.size() > emitted_bytes_) out = text.substr(emitted_bytes_);
  }
  window_.clear();
  emitted_bytes_ = 0;
  return out;
}

}  // namespace glint
