/* SPDX-License-Identifier: MIT */
/*
 * IDX reader for MNIST-style image and label files, gzip-compressed or raw.
 *
 * Format (all integers big-endian): a 4-byte magic number made of two zero
 * bytes, a type byte and a dimension count, then one u32 size per dimension,
 * then the data in row-major order. Only unsigned bytes (type 0x08) are
 * accepted, so image files start with 0x00000803 (count, rows, cols) and
 * label files with 0x00000801 (count).
 *
 * zlib's gzread decompresses gzip input and copies other input unchanged
 * (zlib.h, gzread), so one code path reads both. Only the headers and the
 * first n = min(max_count, count) samples are read: a request for 2000
 * samples decompresses about 2000 * rows * cols bytes plus zlib's read-ahead
 * of one output buffer, not the whole file. The count
 * fields of both headers are still compared, so a label file that belongs to
 * another image file is rejected even when only a prefix is read. A max_count
 * above the file's count is not an error: the set is capped at what the file
 * contains, and callers that care compare out->count with their request.
 *
 * Pooling averages non-overlapping pool x pool blocks. The stored feature is
 * mean / 255 * scale, so with pool 1 a pixel p becomes p / 255 * scale.
 */
#include "data/data_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_MAGIC_IMAGES 0x00000803u
#define IDX_MAGIC_LABELS 0x00000801u

/* zlib's input buffer in bytes, above its 8192-byte default (zlib.h, gzbuffer). */
#define IDX_GZ_BUFFER (256 * 1024)

/* gzread takes an unsigned length and returns an int, so reads are split. */
#define IDX_READ_CHUNK (1u << 30)

/* Images are read in batches of about this many bytes, to bound memory. */
#define IDX_BATCH_BYTES ((size_t)1 << 20)

static int idx_open(const char *path, gzFile *gz, pcs_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return pcs_error_set(err, PCS_EDATA,
				     "%s: cannot open IDX file: %s; check the path and permissions",
				     path, strerror(errno));

	*gz = gzdopen(fd, "rb");
	if (*gz == NULL) {
		close(fd);
		return pcs_error_set(err, PCS_ENOMEM, "%s: out of memory opening IDX file", path);
	}
	gzbuffer(*gz, IDX_GZ_BUFFER);
	return 0;
}


/*
 * Returns zlib's error text without the "<fd:N>: " prefix that gzerror adds
 * for a gzFile opened with gzdopen, because messages name the path instead.
 */
static const char *idx_zlib_reason(const char *zmsg)
{
	const char *colon = strstr(zmsg, ": ");

	if (strncmp(zmsg, "<fd:", 4) == 0 && colon != NULL)
		return colon + 2;
	return zmsg;
}


/*
 * Reads exactly n bytes, where `part` names them in messages. A short read
 * means a truncated file, or a truncated or corrupt gzip stream when zlib
 * reports an error.
 */
static int idx_read(gzFile gz, const char *path, void *buf, size_t n, const char *part,
		    pcs_error *err)
{
	size_t done = 0;
	int errnum = Z_OK;
	const char *zmsg;

	while (done < n) {
		unsigned int chunk = n - done < IDX_READ_CHUNK ? (unsigned int)(n - done) : IDX_READ_CHUNK;
		int got = gzread(gz, (unsigned char *)buf + done, chunk);

		if (got <= 0)
			break;
		done += (size_t)got;
	}
	if (done == n)
		return 0;

	zmsg = gzerror(gz, &errnum);
	if (errnum == Z_ERRNO)
		return pcs_error_set(err, PCS_EDATA, "%s: read error while reading %s: %s", path,
				     part, strerror(errno));
	if (errnum != Z_OK)
		return pcs_error_set(err, PCS_EDATA,
				     "%s: corrupt or truncated gzip data (zlib: %s) while reading %s; "
				     "download or decompress the file again",
				     path, idx_zlib_reason(zmsg), part);
	return pcs_error_set(err, PCS_EDATA,
			     "%s: truncated IDX file: expected %zu bytes of %s, got %zu; "
			     "the file is incomplete, download it again",
			     path, n, part, done);
}


static uint32_t idx_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}


/* Reads and checks the magic number, then reads ndims sizes into dims. */
static int idx_read_header(gzFile gz, const char *path, uint32_t magic, int ndims,
			   uint32_t *dims, pcs_error *err)
{
	unsigned char bytes[4 + 4 * 3];
	uint32_t found;
	int rc;

	rc = idx_read(gz, path, bytes, 4, "the header", err);
	if (rc < 0)
		return rc;

	found = idx_be32(bytes);
	if (found != magic)
		return pcs_error_set(err, PCS_EDATA,
				     "%s: wrong IDX magic number 0x%08X, expected 0x%08X "
				     "(%s of unsigned bytes); %s",
				     path, (unsigned)found, (unsigned)magic,
				     magic == IDX_MAGIC_IMAGES ? "an image file" : "a label file",
				     found == IDX_MAGIC_IMAGES || found == IDX_MAGIC_LABELS
					     ? "the image and label paths look swapped"
					     : "check that the path names an IDX file");

	rc = idx_read(gz, path, bytes + 4, 4 * (size_t)ndims, "the header", err);
	if (rc < 0)
		return rc;
	for (int i = 0; i < ndims; i++)
		dims[i] = idx_be32(bytes + 4 + 4 * i);
	return 0;
}


/* Checks the image header sizes (count, rows, cols) and the pooling factor. */
static int idx_check_shape(const char *path, const uint32_t *dims, int pool, pcs_error *err)
{
	uint32_t rows = dims[1], cols = dims[2];

	if (dims[0] == 0 || dims[0] > INT_MAX)
		return pcs_error_set(err, PCS_EDATA,
				     "%s: invalid IDX header: image count %u; use a file with 1 to %d "
				     "images",
				     path, (unsigned)dims[0], INT_MAX);
	if (rows == 0 || cols == 0 || (uint64_t)rows * cols > INT_MAX)
		return pcs_error_set(err, PCS_EDATA,
				     "%s: invalid IDX header: image size %u x %u; "
				     "rows and cols must be positive with a product of at most %d",
				     path, (unsigned)rows, (unsigned)cols, INT_MAX);
	if (rows % (uint32_t)pool != 0 || cols % (uint32_t)pool != 0)
		return pcs_error_set(err, PCS_EDATA,
				     "%s: pool %d does not divide the image size %u x %u; "
				     "choose a pool that divides both sides",
				     path, pool, (unsigned)rows, (unsigned)cols);
	return 0;
}


/* Writes the pool x pool block means of one image, scaled by factor. */
static void idx_pool_image(const uint8_t *pixels, int rows, int cols, int pool, double factor,
			   float *out)
{
	int out_cols = cols / pool;

	for (int r = 0; r < rows / pool; r++) {
		for (int c = 0; c < out_cols; c++) {
			const uint8_t *block = pixels + (size_t)r * pool * cols + (size_t)c * pool;
			unsigned sum = 0;

			for (int i = 0; i < pool; i++)
				for (int j = 0; j < pool; j++)
					sum += block[(size_t)i * cols + j];
			out[r * out_cols + c] = (float)(sum * factor);
		}
	}
}


/* Reads and pools the first set->count images of an open image file. */
static int idx_read_images(gzFile gz, const char *path, int rows, int cols, int pool,
			   double scale, pcs_dataset *set, pcs_error *err)
{
	size_t image_bytes = (size_t)rows * (size_t)cols;
	int batch = image_bytes < IDX_BATCH_BYTES ? (int)(IDX_BATCH_BYTES / image_bytes) : 1;
	double factor = scale / (255.0 * pool * pool);
	uint8_t *pixels;
	char part[64];
	int rc = 0;

	if (batch > set->count)
		batch = set->count > 0 ? set->count : 1;
	pixels = malloc(image_bytes * (size_t)batch);
	if (pixels == NULL)
		return pcs_error_set(err, PCS_ENOMEM, "%s: out of memory for %d images of %d x %d",
				     path, batch, rows, cols);

	for (int first = 0; first < set->count && rc == 0; first += batch) {
		int n = set->count - first < batch ? set->count - first : batch;

		snprintf(part, sizeof part, "images %d to %d", first, first + n - 1);
		rc = idx_read(gz, path, pixels, image_bytes * (size_t)n, part, err);
		for (int i = 0; i < n && rc == 0; i++)
			idx_pool_image(pixels + image_bytes * (size_t)i, rows, cols, pool, factor,
				       set->features + (size_t)(first + i) * (size_t)set->dim);
	}
	free(pixels);
	return rc;
}


/*
 * Opens both files and reads their headers into image_dims (count, rows,
 * cols) and label_count. The caller closes *images and *labels, which are
 * NULL when not open.
 */
static int idx_open_pair(const char *images_path, const char *labels_path, int pool,
			 gzFile *images, gzFile *labels, uint32_t *image_dims,
			 uint32_t *label_count, pcs_error *err)
{
	int rc;

	rc = idx_open(images_path, images, err);
	if (rc < 0)
		return rc;
	rc = idx_read_header(*images, images_path, IDX_MAGIC_IMAGES, 3, image_dims, err);
	if (rc < 0)
		return rc;
	rc = idx_check_shape(images_path, image_dims, pool, err);
	if (rc < 0)
		return rc;

	rc = idx_open(labels_path, labels, err);
	if (rc < 0)
		return rc;
	rc = idx_read_header(*labels, labels_path, IDX_MAGIC_LABELS, 1, label_count, err);
	if (rc < 0)
		return rc;
	if (*label_count != image_dims[0])
		return pcs_error_set(err, PCS_EDATA,
				     "%s: contains %u labels but the image file %s contains %u images; "
				     "use the label file that belongs to the image file",
				     labels_path, (unsigned)*label_count, images_path,
				     (unsigned)image_dims[0]);
	return 0;
}


/* Reads the labels and images of an opened pair into out. */
static int idx_read_samples(gzFile images, gzFile labels, const char *images_path,
			    const char *labels_path, const uint32_t *image_dims, int pool,
			    int count, double scale, pcs_dataset *out, pcs_error *err)
{
	int rows = (int)image_dims[1], cols = (int)image_dims[2];
	int rc;

	rc = data_alloc(out, count, (rows / pool) * (cols / pool), images_path, err);
	if (rc < 0)
		return rc;
	out->rows = rows / pool;
	out->cols = cols / pool;

	rc = idx_read(labels, labels_path, out->labels, (size_t)count, "the labels", err);
	if (rc == 0)
		rc = idx_read_images(images, images_path, rows, cols, pool, scale, out, err);
	if (rc < 0) {
		pcs_dataset_free(out);
		return rc;
	}
	data_count_classes(out);
	return 0;
}


int pcs_idx_load(const char *images_path, const char *labels_path, int pool, int max_count,
		 double scale, pcs_dataset *out, pcs_error *err)
{
	gzFile images = NULL, labels = NULL;
	uint32_t image_dims[3] = {0}, label_count = 0;
	int count, rc;

	if (images_path == NULL || labels_path == NULL || out == NULL)
		return pcs_error_set(err, PCS_EINVAL, "pcs_idx_load: NULL argument");
	memset(out, 0, sizeof *out);
	if (pool < 1 || max_count < 0)
		return pcs_error_set(err, PCS_EINVAL,
				     "%s: invalid pool %d or sample count %d; "
				     "pool must be >= 1 and the count >= 0 (0 = all)",
				     images_path, pool, max_count);

	rc = idx_open_pair(images_path, labels_path, pool, &images, &labels, image_dims,
			   &label_count, err);
	if (rc == 0) {
		count = (int)image_dims[0];
		if (max_count > 0 && max_count < count)
			count = max_count;
		rc = idx_read_samples(images, labels, images_path, labels_path, image_dims, pool,
				      count, scale, out, err);
	}

	if (images != NULL)
		gzclose(images);
	if (labels != NULL)
		gzclose(labels);
	return rc;
}
