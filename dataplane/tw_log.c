/* The tw.dp log type (STYLE.md §4); registered at load time by EAL's constructor. */
#include "tw_log.h"

RTE_LOG_REGISTER(tw_logtype_dp, tw.dp, INFO);
