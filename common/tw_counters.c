/* Names and help strings for the counters declared in tw_counters.h. */
#include "tw_counters.h"

const char *const tw_counter_names[TW_CNT__MAX] = {
#define TW_X_NAME(name, help) #name,
	TW_DP_COUNTERS(TW_X_NAME)
#undef TW_X_NAME
};

const char *const tw_counter_help[TW_CNT__MAX] = {
#define TW_X_HELP(name, help) help,
	TW_DP_COUNTERS(TW_X_HELP)
#undef TW_X_HELP
};
