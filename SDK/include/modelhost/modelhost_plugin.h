/*
 * modelhost_plugin.h: the ModelHost plugin ABI, version 1, whole.
 *
 * Includes modelhost_common.h (conventions, basic types, host services, the plugin descriptor) and the header of each
 * plugin kind. A plugin may include just modelhost_common.h and its own kind's header instead; plugins written
 * before the split keep including this one unchanged.
 */
#ifndef MODELHOST_PLUGIN_H
#define MODELHOST_PLUGIN_H

#include "modelhost_common.h"
#include "modelhost_text_decoder.h"
#include "modelhost_vision_encoder.h"
#include "modelhost_image_preprocessor.h"
#include "modelhost_text_encoder.h"

#endif /* MODELHOST_PLUGIN_H */
