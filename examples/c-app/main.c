/* edgeq C example: load an .eqm model, run it on one input file, print the outputs.
 *
 *   edgeq-c-app MODEL.eqm INPUT [LABELS]
 *
 * INPUT is a .npy file (the header is skipped; the data must have the input's size) or raw
 * little-endian bytes. LABELS is an optional comma-separated list naming output 0's classes.
 * Exit status: 0 on success, 1 on a usage or I/O error, 2 when edgeq reports an error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeq.h"

/* Reads a whole file into 16-byte aligned memory (edgeq reads models in place). */
static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return NULL;
  }
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  if (size < 0) {
    perror(path);
    fclose(f);
    return NULL;
  }
  /* aligned_alloc wants a size that is a multiple of the alignment. */
  uint8_t *data = aligned_alloc(16, ((size_t)size + 15) / 16 * 16 + 16);
  if (!data || fread(data, 1, (size_t)size, f) != (size_t)size) {
    fprintf(stderr, "%s: read failed\n", path);
    free(data);
    fclose(f);
    return NULL;
  }
  fclose(f);
  *len = (size_t)size;
  return data;
}

/* The payload of a .npy file (format 1.x/2.x: magic, version, header length, header), or
 * the whole buffer when it is not one. */
static const uint8_t *npy_payload(const uint8_t *bytes, size_t len, size_t *payload_len) {
  if (len >= 10 && memcmp(bytes, "\x93NUMPY", 6) == 0) {
    size_t header = bytes[6] == 1 ? 10 + (size_t)(bytes[8] | bytes[9] << 8)
                                  : 12 + (size_t)(bytes[8] | bytes[9] << 8 | bytes[10] << 16 |
                                                  (uint32_t)bytes[11] << 24);
    if (header <= len) {
      *payload_len = len - header;
      return bytes + header;
    }
  }
  *payload_len = len;
  return bytes;
}

static int fail(edgeq_interpreter *it, const char *what, edgeq_status status) {
  char message[256];
  edgeq_last_error(it, message, sizeof message);
  fprintf(stderr, "%s failed: %s: %s\n", what, edgeq_status_string(status), message);
  return 2;
}

static const char *dtype_name(edgeq_dtype t) {
  switch (t) {
  case EDGEQ_DTYPE_INT8: return "int8";
  case EDGEQ_DTYPE_UINT8: return "uint8";
  case EDGEQ_DTYPE_INT32: return "int32";
  case EDGEQ_DTYPE_FLOAT32: return "float32";
  case EDGEQ_DTYPE_INT4: return "int4";
  case EDGEQ_DTYPE_UINT4: return "uint4";
  case EDGEQ_DTYPE_INT16: return "int16";
  }
  return "?";
}

static void print_info(const char *kind, size_t i, const edgeq_tensor_info *t) {
  printf("%s %zu: %s [", kind, i, dtype_name(t->dtype));
  for (uint32_t d = 0; d < t->rank; d++) printf(d ? ", %u" : "%u", t->dims[d]);
  printf("], scale %g, zero point %d, %zu bytes\n", t->scale, t->zero_point, t->bytes);
}

/* Element `k` of a tensor as a real number (dequantized for integer types). */
static float real_value(const edgeq_tensor_info *t, const uint8_t *data, size_t k) {
  switch (t->dtype) {
  case EDGEQ_DTYPE_INT8: return t->scale * (float)((int8_t)data[k] - t->zero_point);
  case EDGEQ_DTYPE_UINT8: return t->scale * (float)((int)data[k] - t->zero_point);
  case EDGEQ_DTYPE_INT16: {
    int16_t v;
    memcpy(&v, data + 2 * k, 2);
    return t->scale * (float)(v - t->zero_point);
  }
  case EDGEQ_DTYPE_INT32: {
    int32_t v;
    memcpy(&v, data + 4 * k, 4);
    return t->scale * (float)(v - t->zero_point);
  }
  case EDGEQ_DTYPE_FLOAT32: {
    float v;
    memcpy(&v, data + 4 * k, 4);
    return v;
  }
  case EDGEQ_DTYPE_INT4:
  case EDGEQ_DTYPE_UINT4: {
    int v = k % 2 ? data[k / 2] >> 4 : data[k / 2] & 0x0F;
    if (t->dtype == EDGEQ_DTYPE_INT4 && v >= 8) v -= 16;
    return t->scale * (float)(v - t->zero_point);
  }
  }
  return 0.0f;
}

/* Prints label `k` of the comma-separated list, or the index. */
static void print_label(const char *labels, size_t k) {
  for (size_t i = 0; labels && i < k; i++) {
    labels = strchr(labels, ',');
    if (labels) labels++;
  }
  if (!labels) {
    printf("%zu", k);
    return;
  }
  size_t n = strcspn(labels, ",");
  printf("%.*s", (int)n, labels);
}

int main(int argc, char **argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: %s MODEL.eqm INPUT(.npy or raw bytes) [LABELS,comma,separated]\n",
            argv[0]);
    return 1;
  }
  size_t model_len, input_len;
  uint8_t *model = read_file(argv[1], &model_len);
  uint8_t *input_file = model ? read_file(argv[2], &input_len) : NULL;
  if (!input_file) return 1;

  edgeq_interpreter it;
  size_t arena_len = 0;
  edgeq_status s = edgeq_model_arena_size(model, model_len, &arena_len);
  if (s != EDGEQ_OK) {
    /* Initialise anyway so edgeq_last_error can say what is wrong with the model. */
    edgeq_init(&it, model, model_len, (uint8_t *)&arena_len, 0);
    return fail(&it, "loading the model", s);
  }
  uint8_t *arena = malloc(arena_len ? arena_len : 1);
  s = edgeq_init(&it, model, model_len, arena, arena_len);
  if (s != EDGEQ_OK) return fail(&it, "edgeq_init", s);
  printf("model %s: %zu bytes, arena %zu bytes, kernels %s (peak %u int8 MACs/cycle; C API v%u)\n",
         argv[1], model_len, arena_len, edgeq_isa_name(&it), edgeq_isa_peak_macs_per_cycle(&it),
         edgeq_abi_version());

  edgeq_tensor_info in;
  if ((s = edgeq_input_info(&it, 0, &in)) != EDGEQ_OK) return fail(&it, "edgeq_input_info", s);
  print_info("input", 0, &in);
  size_t payload_len;
  const uint8_t *payload = npy_payload(input_file, input_len, &payload_len);
  if ((s = edgeq_set_input(&it, 0, payload, payload_len)) != EDGEQ_OK)
    return fail(&it, "edgeq_set_input", s);
  if ((s = edgeq_invoke(&it)) != EDGEQ_OK) return fail(&it, "edgeq_invoke", s);

  for (size_t o = 0; o < edgeq_output_count(&it); o++) {
    edgeq_tensor_info t;
    if ((s = edgeq_output_info(&it, o, &t)) != EDGEQ_OK) return fail(&it, "edgeq_output_info", s);
    print_info("output", o, &t);
    uint8_t *out = malloc(t.bytes);
    if ((s = edgeq_get_output(&it, o, out, t.bytes)) != EDGEQ_OK)
      return fail(&it, "edgeq_get_output", s);
    size_t count = t.elements;
    size_t best = 0;
    for (size_t k = 0; k < count; k++) {
      if (k < 16) printf("  [%zu] %.4f\n", k, real_value(&t, out, k));
      if (real_value(&t, out, k) > real_value(&t, out, best)) best = k;
    }
    if (count > 16) printf("  ... (%zu values)\n", count);
    if (o == 0) {
      printf("top class: ");
      print_label(argc == 4 ? argv[3] : NULL, best);
      printf(" (index %zu, score %.4f)\n", best, real_value(&t, out, best));
    }
    free(out);
  }
  free(arena);
  free(input_file);
  free(model);
  return 0;
}
