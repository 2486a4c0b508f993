#include "io/npy.h"

#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

namespace glint {
namespace {
const char kMagic[] = "\x93NUMPY";

const char* descr(DType t) {
  switch (t) {
    case DType::F32: return "<f4";
    case DType::I32: return "<i4";
    case DType::I64: return "<i8";
    case DType::F64: return "<f8";
    case DType::F16: return "<f2";
    default: fail("cannot write a ", dtype_name(t), " tensor as .npy");
  }
}
}  // namespace

void write_npy(const std::string& path, const Tensor& tensor) {
  std::ostringstream header;
  header << "{'descr': '" << descr(tensor.dtype()) << "', 'fortran_order': False, 'shape': (";
  for (int d = 0; d < tensor.dims(); ++d) header << tensor.size(d) << (tensor.dims() == 1 || d + 1 < tensor.dims() ? "," : "");
  header << "), }";
  std::string h = header.str();
  // Magic (6) + version (2) + length (2) + header, padded with spaces and a newline to a multiple of 64.
  const size_t total = ((10 + h.size() + 1 + 63) / 64) * 64;
  h.append(total - 10 - h.size() - 1, ' ');
  h.push_back('\n');
  std::ofstream out(path, std::ios::binary);
  GLINT_CHECK(out.good(), "cannot write ", path);
  out.write(kMagic, 6);
  const char version[2] = {1, 0};
  out.write(version, 2);
  const uint16_t len = uint16_t(h.size());
  out.write(reinterpret_cast<const char*>(&len), 2);
  out.write(h.data(), std::streamsize(h.size()));
  out.write(static_cast<const char*>(tensor.raw()), std::streamsize(tensor.nbytes()));
  GLINT_CHECK(out.good(), "writing ", path, " failed");
}

Tensor read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  GLINT_CHECK(in.good(), "cannot read ", path);
  char magic[6] = {};
  in.read(magic, 6);
  GLINT_CHECK(in.good() && std::memcmp(magic, kMagic, 6) == 0, path, " is not a .npy file");
  uint8_t version[2] = {};
  in.read(reinterpret_cast<char*>(version), 2);
  uint32_t len = 0;
  if (version[0] == 1) {
    uint16_t l16 = 0;
    in.read(reinterpret_cast<char*>(&l16), 2);
    len = l16;
  } else {
    in.read(reinterpret_cast<char*>(&len), 4);
  }
  std::string header(len, '\0');
  in.read(header.data(), len);
  GLINT_CHECK(in.good(), path, ": truncated .npy header");
  std::smatch m;
  GLINT_CHECK(std::regex_search(header, m, std::regex("'descr': *'([<|]?)([a-z])([0-9]+)'")), path,
              ": .npy header has no descr");
  const std::string kind = m[2].str() + m[3].str();
  DType dtype = kind == "f4" ? DType::F32 : kind == "i4" ? DType::I32 : kind == "i8" ? DType::I64
              : kind == "f8" ? DType::F64 : kind == "f2" ? DType::F16 : DType::U8;
  GLINT_CHECK(dtype != DType::U8, path, ": unsupported .npy dtype ", kind);
  GLINT_CHECK(header.find("'fortran_order': False") != std::string::npos, path, ": Fortran order is not supported");
  GLINT_CHECK(std::regex_search(header, m, std::regex("'shape': *\\(([^)]*)\\)")), path, ": .npy header has no shape");
  std::vector<int64_t> shape;
  std::stringstream dims(m[1].str());
  std::string item;
  while (std::getline(dims, item, ','))
    if (item.find_first_not_of(' ') != std::string::npos) shape.push_back(std::stoll(item));
  Tensor t = Tensor::empty(shape, dtype);
  in.read(static_cast<char*>(t.raw()), std::streamsize(t.nbytes()));
  GLINT_CHECK(in.gcount() == std::streamsize(t.nbytes()), path, ": truncated .npy data");
  return t;
}

}  // namespace glint
