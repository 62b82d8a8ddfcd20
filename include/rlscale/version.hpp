#pragma once

/// rlscale's version, kept equal to the one in CMakeLists.txt.
#define RLSCALE_VERSION_MAJOR 0
#define RLSCALE_VERSION_MINOR 1
#define RLSCALE_VERSION_PATCH 0
