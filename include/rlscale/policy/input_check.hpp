#pragma once

// Moved: the control-loop primitives live in <rlscale/core/control.hpp>.
#include <rlscale/core/control.hpp>
