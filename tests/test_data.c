/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the data module. They cover IDX files (raw and gzip) written
 * byte by byte into a temporary directory, CSV text with known values and
 * known faults, the XOR set and pcs_data_load. One test reads the real
 * Fashion-MNIST files when the dataset-fashion-mnist package is installed.
 *
 * Expected values come from the bytes each test writes (pixel / 255 * scale,
 * block means worked out by hand), not from the loader's output.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "pcsim/data.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

/* Absolute tolerance for features, which are at most 2 in these tests. */
#define FEATURE_TOL 1e-6

/* Every test case shares one temporary directory, created and removed in
 * the parent process so that a failing test still leaves nothing behind. */
static char tmp_dir[64];

static void tmp_setup(void)
{
	strcpy(tmp_dir, "/tmp/pcs_test_data_XXXXXX");
	if (mkdtemp(tmp_dir) == NULL) {
		perror("mkdtemp");
		exit(EXIT_FAILURE);
	}
}

static void tmp_teardown(void)
{
	DIR *dir = opendir(tmp_dir);
	struct dirent *entry;
	char path[PATH_MAX];

	if (dir == NULL)
		return;
	while ((entry = readdir(dir)) != NULL) {
		if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", tmp_dir, entry->d_name);
		unlink(path);
	}
	closedir(dir);
	rmdir(tmp_dir);
}

/* Returns a path in the temporary directory; the buffer is reused after 16 calls. */
static const char *tmp_path(const char *name)
{
	static char paths[16][PATH_MAX];
	static int next;
	char *path = paths[next++ % 16];

	snprintf(path, PATH_MAX, "%s/%s", tmp_dir, name);
	return path;
}

/* Writes len bytes to a new temporary file, gzip-compressed when gzip is set. */
static const char *write_file(const char *name, const void *bytes, size_t len, int gzip)
{
	const char *path = tmp_path(name);

	if (gzip) {
		gzFile gz = gzopen(path, "wb");

		ck_assert_ptr_nonnull(gz);
		if (len > 0)
			ck_assert_int_eq(gzwrite(gz, bytes, (unsigned)len), (int)len);
		ck_assert_int_eq(gzclose(gz), Z_OK);
	} else {
		FILE *f = fopen(path, "wb");

		ck_assert_ptr_nonnull(f);
		ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
		ck_assert_int_eq(fclose(f), 0);
	}
	return path;
}

static const char *write_text(const char *name, const char *text)
{
	return write_file(name, text, strlen(text), 0);
}

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/*
 * Writes an IDX image file: magic, then the count, rows and cols header
 * fields, then n_pixels pixel bytes (which may disagree with the header).
 */
static const char *write_images(const char *name, uint32_t magic, uint32_t count, uint32_t rows,
				uint32_t cols, const uint8_t *pixels, size_t n_pixels, int gzip)
{
	unsigned char *buf = malloc(16 + n_pixels);
	const char *path;

	ck_assert_ptr_nonnull(buf);
	put_be32(buf, magic);
	put_be32(buf + 4, count);
	put_be32(buf + 8, rows);
	put_be32(buf + 12, cols);
	if (n_pixels > 0)
		memcpy(buf + 16, pixels, n_pixels);
	path = write_file(name, buf, 16 + n_pixels, gzip);
	free(buf);
	return path;
}

static const char *write_labels(const char *name, uint32_t count, const uint8_t *labels,
				size_t n_labels, int gzip)
{
	unsigned char *buf = malloc(8 + n_labels);
	const char *path;

	ck_assert_ptr_nonnull(buf);
	put_be32(buf, 0x00000801);
	put_be32(buf + 4, count);
	if (n_labels > 0)
		memcpy(buf + 8, labels, n_labels);
	path = write_file(name, buf, 8 + n_labels, gzip);
	free(buf);
	return path;
}

#define assert_msg_has(err, needle)                                                    \
	ck_assert_msg(strstr((err).msg, (needle)) != NULL, "message '%s' lacks '%s'", \
		      (err).msg, (needle))

#define assert_feature(set, i, expected) \
	ck_assert_float_eq_tol((set).features[(i)], (float)(expected), FEATURE_TOL)

/* Two 2 x 2 images and labels 3, 7, shared by several IDX tests. */
static const uint8_t small_pixels[8] = {0, 255, 51, 102, 1, 2, 3, 4};
static const uint8_t small_labels[2] = {3, 7};

START_TEST(data_idx_raw_pool1)
{
	const char *images = write_images("img", 0x803, 2, 2, 2, small_pixels, 8, 0);
	const char *labels = write_labels("lbl", 2, small_labels, 2, 0);
	pcs_dataset set;
	pcs_error err = {0};

	ck_assert_int_eq(pcs_idx_load(images, labels, 1, 0, 1.0, &set, &err), 0);
	ck_assert_int_eq(set.count, 2);
	ck_assert_int_eq(set.dim, 4);
	ck_assert_int_eq(set.rows, 2);
	ck_assert_int_eq(set.cols, 2);
	ck_assert_int_eq(set.n_classes, 8);
	ck_assert_uint_eq(set.labels[0], 3);
	ck_assert_uint_eq(set.labels[1], 7);
	assert_feature(set, 0, 0.0);
	assert_feature(set, 1, 1.0);
	assert_feature(set, 2, 0.2);
	assert_feature(set, 3, 0.4);
	assert_feature(set, 4, 1.0 / 255);
	assert_feature(set, 7, 4.0 / 255);
	pcs_dataset_free(&set);
}
END_TEST

START_TEST(data_idx_gzip_pool2)
{
	/* Image 0 has four 2 x 2 blocks with means 191.25, 25, 2.5 and 100;
	 * image 1 is uniformly 51. */
	static const uint8_t pixels[32] = {
		0,   255, 10,  20,  255, 255, 30,  40,  1,   2,   100, 100, 3,   4,   100, 100,
		51,  51,  51,  51,  51,  51,  51,  51,  51,  51,  51,  51,  51,  51,  51,  51,
	};
	static const uint8_t zero_labels[2] = {0, 0};
	const char *images = write_images("img.gz", 0x803, 2, 4, 4, pixels, 32, 1);
	const char *labels = write_labels("lbl.gz", 2, zero_labels, 2, 1);
	pcs_dataset set;
	pcs_error err = {0};

	ck_assert_int_eq(pcs_idx_load(images, labels, 2, 0, 2.0, &set, &err), 0);
	ck_assert_int_eq(set.count, 2);
	ck_assert_int_eq(set.dim, 4);
	ck_assert_int_eq(set.rows, 2);
	ck_assert_int_eq(set.cols, 2);
	ck_assert_int_eq(set.n_classes, 2);
	assert_feature(set, 0, 191.25 / 255 * 2);
	assert_feature(set, 1, 25.0 / 255 * 2);
	assert_feature(set, 2, 2.5 / 255 * 2);
	assert_feature(set, 3, 100.0 / 255 * 2);
	for (int i = 4; i < 8; i++)
		assert_feature(set, i, 0.4);
	pcs_dataset_free(&set);
}
END_TEST

START_TEST(data_idx_wrong_magic)
{
	const char *images = write_images("img", 0x804, 2, 2, 2, small_pixels, 8, 0);
	const char *labels = write_labels("lbl", 2, small_labels, 2, 0);
	pcs_dataset set;
	pcs_error err = {0};

	ck_assert_int_eq(pcs_idx_load(images, labels, 1, 0, 1.0, &set, &err), PCS_EDATA);
	assert_msg_has(err, images);
	assert_msg_has(err, "0x00000804");
	assert_msg_has(err, "0x00000803");
	ck_assert_ptr_null(set.features);
}
END_TEST

START_TEST(data_idx_swapped_paths)
{
	const char *images = write_images("img", 0x803, 2, 2, 2, small_pixels, 8, 0);
	const char *labels = write_labels("lbl", 2, small_labels, 2, 0);
	pcs_dataset set;
	pcs_error err = {0};

	ck_assert_int_eq(pcs_idx_load(labels, images, 1, 0, 1.0, &set, &err), PCS_EDATA);
	assert_msg_has(err, "0x00000801");
	assert_msg_has(err, "swapped");
}
END_TEST

START_TEST(data_idx_truncated_raw)
{
	/* The header promises 3 images of 4 bytes but 10 pixel bytes follow. */
	static const uint8_t pixels[10] = {10, 20, 30, 40, 50, 60, 70, 80, 90, 100};
	static const uint8_t three_labels[3] = {1, 2, 3};
	const char *images = write_images("img", 0x803, 3, 2, 2, pixels, 10, 0);
	const char *labels = write_labels("lbl", 3, three_labels, 3, 0);
	pcs_dataset set;
	pcs_error err = {0};

	ck_assert_int_eq(pcs_idx_load(images, labels, 1, 0, 1.0, &set, &err), PCS_EDATA);
	assert_msg_has(err, images);
	assert_msg_has(err, "truncated");
	assert_msg_has(err, "expected 12 bytes");
	assert_msg_has(err, "got 10");
	ck_assert_ptr_null(set.features);

	/* The first two images are complete, so a request for two succeeds. */
	ck_assert_int_eq(pcs_idx_load(images, labels, 1, 2, 1.0, &set, &err), 0);
	ck_assert_int_eq(set.count, 2);
	assert_feature(set, 7, 80.0 / 255);
	pcs_dataset_free(&set);
}
END_TEST

START_TEST(data_idx_truncated_gzip)
{
	enum { count = 40, side = 28 };
	static uint8_t pixels[count * side * side];
	static uint8_t labels_bytes[count];
	const char *images, *labels;
	uint32_t state = 12345;
	pcs_dataset set;
	pcs_error err = {0};
	FILE *f;
	long size;

	/* Pseudo-random pixels barely compress, so half the file cuts the
	 * deflate stream in the middle of the pixel data. */
	for (size_t i = 0; i < sizeof pixels; i++) {
		state = state * 1103515245u + 12345u;
		pixels[i] = (uint8_t)(state >> 16);
	}
	images = write_images("img.gz", 0x803, count, side, side, pixels, sizeof pixels, 1);
	labels = write_labels("lbl.gz", count, labels_bytes, count, 1);

	f = fopen(images, "rb");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	fclose(f);
	ck_assert_int_gt(size, (long)sizeof pixels / 2);
	ck_assert_int_eq(truncate(images, size / 2), 0);

	ck_assert_int_eq(pcs_idx_load(images, labels, 1, 0, 1.0, &set, &err), PCS_EDATA);
	assert_msg_has(err, images);
	assert_msg_has(err, "gzip");
	ck_assert_ptr_null(set.features);
}
END_TEST

START_TEST(data_idx_count_mismatch)
{
	static const uint8_t three_labels[3] = {1, 2, 3};
	const char *images = write_images("img", 0x803, 2, 2, 2, small_pixels, 8, 0);
	const char *labels = write_labels("lbl", 3, three_labels, 3, 0);
	pcs_dataset set;
	pcs_error err = {0};

	ck_assert_int_eq(pcs_idx_load(images, labels, 1, 1, 1.0, &set, &err), PCS_EDATA);
	assert_msg_has(err, labels);
	assert_msg_has(err, "3 labels");
	assert_msg_has(err, "2 images");
}
END_TEST

START_TEST(data_idx_missing_file)
{
	const char *labels = write_labels("lbl", 2, small_labels, 2, 0);
	const char *images = tmp_path("absent");
	pcs_dataset set;
	pcs_error err = {0};

	ck_assert_int_eq(pcs_idx_load(images, labels, 1, 0, 1.0, &set, &err), PCS_EDATA);
	assert_msg_has(err, images);
	assert_msg_has(err, strerror(ENOENT));
}
END_TEST

START_TEST(data_idx_pool_not_dividing)
{
	static const uint8_t pixels[24];
	const char *images = write_images("img", 0x803, 1, 4, 6, pixels, 24, 0);
	const char *labels = write_labels("lbl", 1, small_labels, 1, 0);
	pcs_dataset set;
	pcs_error err = {0};

	ck_assert_int_eq(pcs_idx_load(images, labels, 4, 0, 1.0, &set, &err), PCS_EDATA);
	assert_msg_has(err, "pool 4");
	assert_msg_has(err, "4 x 6");

	/* Pool 2 divides both sides and gives a 2 x 3 image. */
	ck_assert_int_eq(pcs_idx_load(images, labels, 2, 0, 1.0, &set, &err), 0);
	ck_assert_int_eq(set.rows, 2);
	ck_assert_int_eq(set.cols, 3);
	ck_assert_int_eq(set.dim, 6);
	pcs_dataset_free(&set);
}
END_TEST

START_TEST(data_idx_zero_sizes)
{
	const char *images = write_images("img", 0x803, 1, 0, 4, small_pixels, 0, 0);
	const char *labels = write_labels("lbl", 1, small_labels, 1, 0);
	const char *no_images = write_images("none", 0x803, 0, 2, 2, small_pixels, 0, 0);
	const char *no_labels = write_labels("no_lbl", 0, small_labels, 0, 0);
	pcs_dataset set;
	pcs_error err = {0};

	ck_assert_int_eq(pcs_idx_load(images, labels, 1, 0, 1.0, &set, &err), PCS_EDATA);
	assert_msg_has(err, "0 x 4");

	ck_assert_int_eq(pcs_idx_load(no_images, no_labels, 1, 0, 1.0, &set, &err), PCS_EDATA);
	assert_msg_has(err, "image count 0");
}
END_TEST

START_TEST(data_idx_max_count_cap)
{
	static const uint8_t pixels[12] = {0, 0, 0, 0, 255, 255, 255, 255, 51, 51, 51, 51};
	static const uint8_t three_labels[3] = {0, 1, 4};
	const char *images = write_images("img.gz", 0x803, 3, 2, 2, pixels, 12, 1);
	const char *labels = write_labels("lbl", 3, three_labels, 3, 0);
	pcs_dataset set;
	pcs_error err = {0};

	ck_assert_int_eq(pcs_idx_load(images, labels, 1, 2, 1.0, &set, &err), 0);
	ck_assert_int_eq(set.count, 2);
	ck_assert_int_eq(set.n_classes, 2);
	assert_feature(set, 4, 1.0);
	pcs_dataset_free(&set);

	ck_assert_int_eq(pcs_idx_load(images, labels, 1, 10, 1.0, &set, &err), 0);
	ck_assert_int_eq(set.count, 3);
	ck_assert_int_eq(set.n_classes, 5);
	assert_feature(set, 8, 0.2);
	pcs_dataset_free(&set);

	ck_assert_int_eq(pcs_idx_load(images, labels, 1, 0, 1.0, &set, &err), 0);
	ck_assert_int_eq(set.count, 3);
	pcs_dataset_free(&set);
}
END_TEST

START_TEST(data_idx_invalid_arguments)
{
	const char *images = write_images("img", 0x803, 2, 2, 2, small_pixels, 8, 0);
	const char *labels = write_labels("lbl", 2, small_labels, 2, 0);
	pcs_dataset set;
	pcs_error err = {0};

	ck_assert_int_eq(pcs_idx_load(images, labels, 0, 0, 1.0, &set, &err), PCS_EINVAL);
	ck_assert_int_eq(pcs_idx_load(images, labels, 1, -1, 1.0, &set, &err), PCS_EINVAL);
}
END_TEST

START_TEST(data_csv_values)
{
	const char *path = write_text("good.csv", "0.5,-1.25,3\n1e-3, 2 ,0\n\t-0, 7.75 ,\t1\n");
	pcs_dataset set;
	pcs_error err = {0};

	ck_assert_int_eq(pcs_csv_load(path, 0, 0, &set, &err), 0);
	ck_assert_int_eq(set.count, 3);
	ck_assert_int_eq(set.dim, 2);
	ck_assert_int_eq(set.rows, 0);
	ck_assert_int_eq(set.cols, 0);
	ck_assert_int_eq(set.n_classes, 4);
	ck_assert_float_eq(set.features[0], 0.5f);
	ck_assert_float_eq(set.features[1], -1.25f);
	ck_assert_float_eq(set.features[2], 0.001f);
	ck_assert_float_eq(set.features[3], 2.0f);
	ck_assert_float_eq(set.features[4], 0.0f);
	ck_assert_float_eq(set.features[5], 7.75f);
	ck_assert_uint_eq(set.labels[0], 3);
	ck_assert_uint_eq(set.labels[1], 0);
	ck_assert_uint_eq(set.labels[2], 1);
	pcs_dataset_free(&set);
}
END_TEST

START_TEST(data_csv_bad_field)
{
	const char *path = write_text("bad.csv", "1,2,0\n3, abc ,1\n");
	pcs_dataset set;
	pcs_error err = {0};
	char where[PATH_MAX + 16];

	ck_assert_int_eq(pcs_csv_load(path, 0, 0, &set, &err), PCS_EDATA);
	snprintf(where, sizeof where, "%s:2:", path);
	assert_msg_has(err, where);
	assert_msg_has(err, "column 2");
	assert_msg_has(err, "'abc'");
	ck_assert_ptr_null(set.features);
}
END_TEST

START_TEST(data_csv_empty_field)
{
	const char *path = write_text("empty.csv", "1,,0\n2\n");
	pcs_dataset set;
	pcs_error err = {0};

	ck_assert_int_eq(pcs_csv_load(path, 0, 0, &set, &err), PCS_EDATA);
	assert_msg_has(err, ":1:");
	assert_msg_has(err, "column 2");
	assert_msg_has(err, "empty");
}
END_TEST

START_TEST(data_csv_non_finite)
{
	const char *inf_path = write_text("inf.csv", "inf,0\n");
	const char *big_path = write_text("big.csv", "1e39,0\n");
	pcs_dataset set;
	pcs_error err = {0};

	ck_assert_int_eq(pcs_csv_load(inf_path, 0, 0, &set, &err), PCS_EDATA);
	assert_msg_has(err, "'inf'");
	ck_assert_int_eq(pcs_csv_load(big_path, 0, 0, &set, &err), PCS_EDATA);
	assert_msg_has(err, "'1e39'");
}
END_TEST

START_TEST(data_csv_ragged_row)
{
	const char *path = write_text("ragged.csv", "1,2,0\n3,4,1\n5,1\n");
	pcs_dataset set;
	pcs_error err = {0};

	ck_assert_int_eq(pcs_csv_load(path, 0, 0, &set, &err), PCS_EDATA);
	assert_msg_has(err, ":3:");
	assert_msg_has(err, "2 columns, expected 3 as on line 1");
}
END_TEST

START_TEST(data_csv_one_column)
{
	const char *path = write_text("one.csv", "1\n2\n");
	pcs_dataset set;
	pcs_error err = {0};

	ck_assert_int_eq(pcs_csv_load(path, 0, 0, &set, &err), PCS_EDATA);
	assert_msg_has(err, ":1:");
	assert_msg_has(err, "1 column");
}
END_TEST

START_TEST(data_csv_label_range)
{
	static const char *const bad[] = {"256", "-1", "2.5", "x"};
	pcs_dataset set;
	pcs_error err = {0};
	char text[64], quoted[16];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *path;

		snprintf(text, sizeof text, "0.5,1\n0.25,%s\n", bad[i]);
		path = write_text("label.csv", text);
		ck_assert_int_eq(pcs_csv_load(path, 0, 0, &set, &err), PCS_EDATA);
		snprintf(quoted, sizeof quoted, "'%s'", bad[i]);
		assert_msg_has(err, quoted);
		assert_msg_has(err, ":2:");
		assert_msg_has(err, "column 2");
	}

	ck_assert_int_eq(pcs_csv_load(write_text("max.csv", "0,255\n"), 0, 0, &set, &err), 0);
	ck_assert_uint_eq(set.labels[0], 255);
	ck_assert_int_eq(set.n_classes, 256);
	pcs_dataset_free(&set);
}
END_TEST

START_TEST(data_csv_header_skip)
{
	const char *path = write_text("header.csv", "x,y,label\n1,2,1\n");
	pcs_dataset set;
	pcs_error err = {0};

	ck_assert_int_eq(pcs_csv_load(path, 1, 0, &set, &err), 0);
	ck_assert_int_eq(set.count, 1);
	ck_assert_float_eq(set.features[0], 1.0f);
	ck_assert_float_eq(set.features[1], 2.0f);
	ck_assert_uint_eq(set.labels[0], 1);
	pcs_dataset_free(&set);

	/* Without skip_header the names are read as data and rejected. */
	ck_assert_int_eq(pcs_csv_load(path, 0, 0, &set, &err), PCS_EDATA);
	assert_msg_has(err, ":1:");
	assert_msg_has(err, "column 1");
	assert_msg_has(err, "'x'");
}
END_TEST

START_TEST(data_csv_crlf)
{
	const char *path = write_text("crlf.csv", "1,2,1\r\n3,4,0\r\n\r\n");
	pcs_dataset set;
	pcs_error err = {0};

	ck_assert_int_eq(pcs_csv_load(path, 0, 0, &set, &err), 0);
	ck_assert_int_eq(set.count, 2);
	ck_assert_int_eq(set.dim, 2);
	ck_assert_float_eq(set.features[2], 3.0f);
	ck_assert_float_eq(set.features[3], 4.0f);
	ck_assert_uint_eq(set.labels[0], 1);
	ck_assert_uint_eq(set.labels[1], 0);
	pcs_dataset_free(&set);
}
END_TEST

START_TEST(data_csv_line_end_optional)
{
	const char *path = write_text("noeol.csv", "1,2,1\n3,4,0");
	pcs_dataset set;
	pcs_error err = {0};

	ck_assert_int_eq(pcs_csv_load(path, 0, 0, &set, &err), 0);
	ck_assert_int_eq(set.count, 2);
	ck_assert_uint_eq(set.labels[1], 0);
	pcs_dataset_free(&set);
}
END_TEST

START_TEST(data_csv_blank_line_inside)
{
	const char *path = write_text("blank.csv", "1,0\n\n2,1\n");
	pcs_dataset set;
	pcs_error err = {0};

	ck_assert_int_eq(pcs_csv_load(path, 0, 0, &set, &err), PCS_EDATA);
	assert_msg_has(err, ":2:");
	assert_msg_has(err, "blank line");
}
END_TEST

START_TEST(data_csv_no_rows)
{
	const char *path = write_text("header_only.csv", "x,label\n\n");
	pcs_dataset set;
	pcs_error err = {0};

	ck_assert_int_eq(pcs_csv_load(path, 1, 0, &set, &err), PCS_EDATA);
	assert_msg_has(err, "no data rows");
}
END_TEST

START_TEST(data_csv_max_count)
{
	/* Line 3 is invalid but lies beyond the requested two rows. */
	const char *path = write_text("three.csv", "1,0\n2,1\nbad,2\n");
	pcs_dataset set;
	pcs_error err = {0};

	ck_assert_int_eq(pcs_csv_load(path, 0, 2, &set, &err), 0);
	ck_assert_int_eq(set.count, 2);
	ck_assert_float_eq(set.features[1], 2.0f);
	pcs_dataset_free(&set);

	ck_assert_int_eq(pcs_csv_load(path, 0, 0, &set, &err), PCS_EDATA);
	assert_msg_has(err, ":3:");
}
END_TEST

START_TEST(data_csv_missing_file)
{
	const char *path = tmp_path("absent.csv");
	pcs_dataset set;
	pcs_error err = {0};

	ck_assert_int_eq(pcs_csv_load(path, 0, 0, &set, &err), PCS_EDATA);
	assert_msg_has(err, path);
	assert_msg_has(err, strerror(ENOENT));
}
END_TEST

START_TEST(data_xor_patterns)
{
	static const float inputs[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
	pcs_dataset set;
	pcs_error err = {0};

	ck_assert_int_eq(pcs_xor_make(3, &set, &err), 0);
	ck_assert_int_eq(set.count, 12);
	ck_assert_int_eq(set.dim, 2);
	ck_assert_int_eq(set.n_classes, 2);
	ck_assert_int_eq(set.rows, 0);
	for (int i = 0; i < set.count; i++) {
		int a = (int)inputs[i % 4][0], b = (int)inputs[i % 4][1];

		ck_assert_float_eq(set.features[2 * i], (float)a);
		ck_assert_float_eq(set.features[2 * i + 1], (float)b);
		ck_assert_uint_eq(set.labels[i], (unsigned)(a ^ b));
	}
	pcs_dataset_free(&set);

	ck_assert_int_eq(pcs_xor_make(0, &set, &err), PCS_EINVAL);
	assert_msg_has(err, "0");
}
END_TEST

START_TEST(data_load_xor)
{
	pcs_data_spec spec = {.source = PCS_DATA_XOR, .xor_repeat = 5};
	pcs_dataset train, test;
	pcs_error err = {0};

	ck_assert_int_eq(pcs_data_load(&spec, &train, &test, &err), 0);
	ck_assert_int_eq(train.count, 20);
	ck_assert_int_eq(test.count, 4);
	ck_assert_int_eq(test.dim, 2);
	ck_assert_uint_eq(test.labels[0], 0);
	ck_assert_uint_eq(test.labels[1], 1);
	ck_assert_uint_eq(test.labels[2], 1);
	ck_assert_uint_eq(test.labels[3], 0);
	pcs_dataset_free(&train);
	pcs_dataset_free(&test);
}
END_TEST

START_TEST(data_load_csv_classes)
{
	pcs_data_spec spec = {.source = PCS_DATA_CSV, .csv_header = true};
	pcs_dataset train, test;
	pcs_error err = {0};

	strcpy(spec.train_csv, write_text("train.csv", "a,b,y\n1,2,0\n3,4,2\n"));
	strcpy(spec.test_csv, write_text("test.csv", "a,b,y\n5,6,5\n"));
	ck_assert_int_eq(pcs_data_load(&spec, &train, &test, &err), 0);
	ck_assert_int_eq(train.count, 2);
	ck_assert_int_eq(test.count, 1);
	ck_assert_int_eq(train.n_classes, 6);
	ck_assert_int_eq(test.n_classes, 6);
	pcs_dataset_free(&train);
	pcs_dataset_free(&test);
}
END_TEST

START_TEST(data_load_dim_mismatch)
{
	pcs_data_spec spec = {.source = PCS_DATA_CSV};
	pcs_dataset train, test;
	pcs_error err = {0};

	strcpy(spec.train_csv, write_text("train.csv", "1,2,0\n"));
	strcpy(spec.test_csv, write_text("test.csv", "1,2,3,0\n"));
	ck_assert_int_eq(pcs_data_load(&spec, &train, &test, &err), PCS_EDATA);
	assert_msg_has(err, spec.train_csv);
	assert_msg_has(err, spec.test_csv);
	assert_msg_has(err, "2 features");
	assert_msg_has(err, "have 3");
	ck_assert_ptr_null(train.features);
	ck_assert_ptr_null(test.features);
}
END_TEST

START_TEST(data_load_idx_counts)
{
	pcs_data_spec spec = {.source = PCS_DATA_IDX, .pool = 1, .train_count = 1,
			      .test_count = 0, .scale = 0.5};
	pcs_dataset train, test;
	pcs_error err = {0};

	strcpy(spec.train_images, write_images("img", 0x803, 2, 2, 2, small_pixels, 8, 0));
	strcpy(spec.train_labels, write_labels("lbl", 2, small_labels, 2, 0));
	strcpy(spec.test_images, spec.train_images);
	strcpy(spec.test_labels, spec.train_labels);
	ck_assert_int_eq(pcs_data_load(&spec, &train, &test, &err), 0);
	ck_assert_int_eq(train.count, 1);
	ck_assert_int_eq(test.count, 2);
	ck_assert_int_eq(train.n_classes, 8);
	assert_feature(train, 1, 0.5);
	pcs_dataset_free(&train);
	pcs_dataset_free(&test);
}
END_TEST

START_TEST(data_dataset_free_zeroes)
{
	pcs_dataset set;
	pcs_error err = {0};

	ck_assert_int_eq(pcs_xor_make(1, &set, &err), 0);
	pcs_dataset_free(&set);
	ck_assert_ptr_null(set.features);
	ck_assert_ptr_null(set.labels);
	ck_assert_int_eq(set.count, 0);
	ck_assert_int_eq(set.dim, 0);
	pcs_dataset_free(&set);
	pcs_dataset_free(NULL);
}
END_TEST

START_TEST(data_idx_fashion_mnist)
{
	const char *train_images = FASHION_DIR "/train-images-idx3-ubyte.gz";
	const char *train_labels = FASHION_DIR "/train-labels-idx1-ubyte.gz";
	const char *test_images = FASHION_DIR "/t10k-images-idx3-ubyte.gz";
	const char *test_labels = FASHION_DIR "/t10k-labels-idx1-ubyte.gz";
	pcs_dataset full, pooled, test;
	pcs_error err = {0};
	size_t out_of_range = 0;

	if (access(train_images, R_OK) != 0 || access(test_images, R_OK) != 0) {
		fprintf(stderr, "data_idx_fashion_mnist skipped: %s not found "
				"(install dataset-fashion-mnist)\n", FASHION_DIR);
		return;
	}

	ck_assert_msg(pcs_idx_load(train_images, train_labels, 1, 0, 1.0, &full, &err) == 0,
		      "%s", err.msg);
	ck_assert_int_eq(full.count, 60000);
	ck_assert_int_eq(full.rows, 28);
	ck_assert_int_eq(full.cols, 28);
	ck_assert_int_eq(full.n_classes, 10);
	ck_assert_uint_eq(full.labels[0], 9);
	/* One assert for the whole scan, because each Check assert writes a
	 * mark to a pipe and 47 million of them take seconds. */
	for (size_t i = 0; i < (size_t)full.count * (size_t)full.dim; i++)
		if (!(full.features[i] >= 0.0f && full.features[i] <= 1.0f))
			out_of_range++;
	ck_assert_uint_eq(out_of_range, 0);

	ck_assert_int_eq(pcs_idx_load(test_images, test_labels, 1, 1, 1.0, &test, &err), 0);
	ck_assert_int_eq(test.count, 1);
	ck_assert_uint_eq(test.labels[0], 9);
	pcs_dataset_free(&test);

	ck_assert_int_eq(pcs_idx_load(train_images, train_labels, 2, 100, 1.0, &pooled, &err), 0);
	ck_assert_int_eq(pooled.count, 100);
	ck_assert_int_eq(pooled.rows, 14);
	ck_assert_int_eq(pooled.cols, 14);
	ck_assert_int_eq(pooled.dim, 196);
	for (int s = 0; s < 100; s += 33) {
		for (int r = 0; r < 14; r += 3) {
			for (int c = 0; c < 14; c += 2) {
				const float *src = full.features + (size_t)s * 784 + 2 * r * 28 + 2 * c;
				double mean = (src[0] + src[1] + src[28] + src[29]) / 4.0;

				ck_assert_float_eq_tol(pooled.features[s * 196 + r * 14 + c], mean,
						       FEATURE_TOL);
			}
		}
		ck_assert_uint_eq(pooled.labels[s], full.labels[s]);
	}
	pcs_dataset_free(&pooled);
	pcs_dataset_free(&full);
}
END_TEST

static Suite *data_suite(void)
{
	Suite *suite = suite_create("data");
	TCase *idx = tcase_create("idx");
	TCase *csv = tcase_create("csv");
	TCase *sets = tcase_create("sets");

	tcase_add_unchecked_fixture(idx, tmp_setup, tmp_teardown);
	tcase_add_test(idx, data_idx_raw_pool1);
	tcase_add_test(idx, data_idx_gzip_pool2);
	tcase_add_test(idx, data_idx_wrong_magic);
	tcase_add_test(idx, data_idx_swapped_paths);
	tcase_add_test(idx, data_idx_truncated_raw);
	tcase_add_test(idx, data_idx_truncated_gzip);
	tcase_add_test(idx, data_idx_count_mismatch);
	tcase_add_test(idx, data_idx_missing_file);
	tcase_add_test(idx, data_idx_pool_not_dividing);
	tcase_add_test(idx, data_idx_zero_sizes);
	tcase_add_test(idx, data_idx_max_count_cap);
	tcase_add_test(idx, data_idx_invalid_arguments);
	tcase_add_test(idx, data_idx_fashion_mnist);
	suite_add_tcase(suite, idx);

	tcase_add_unchecked_fixture(csv, tmp_setup, tmp_teardown);
	tcase_add_test(csv, data_csv_values);
	tcase_add_test(csv, data_csv_bad_field);
	tcase_add_test(csv, data_csv_empty_field);
	tcase_add_test(csv, data_csv_non_finite);
	tcase_add_test(csv, data_csv_ragged_row);
	tcase_add_test(csv, data_csv_one_column);
	tcase_add_test(csv, data_csv_label_range);
	tcase_add_test(csv, data_csv_header_skip);
	tcase_add_test(csv, data_csv_crlf);
	tcase_add_test(csv, data_csv_line_end_optional);
	tcase_add_test(csv, data_csv_blank_line_inside);
	tcase_add_test(csv, data_csv_no_rows);
	tcase_add_test(csv, data_csv_max_count);
	tcase_add_test(csv, data_csv_missing_file);
	suite_add_tcase(suite, csv);

	tcase_add_unchecked_fixture(sets, tmp_setup, tmp_teardown);
	tcase_add_test(sets, data_xor_patterns);
	tcase_add_test(sets, data_load_xor);
	tcase_add_test(sets, data_load_csv_classes);
	tcase_add_test(sets, data_load_dim_mismatch);
	tcase_add_test(sets, data_load_idx_counts);
	tcase_add_test(sets, data_dataset_free_zeroes);
	suite_add_tcase(suite, sets);
	return suite;
}

int main(void)
{
	SRunner *runner = srunner_create(data_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
