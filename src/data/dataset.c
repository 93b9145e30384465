/* SPDX-License-Identifier: MIT */
#include "pcsim/common.h"
