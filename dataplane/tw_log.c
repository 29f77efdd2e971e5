/*
 * The tw.dp log type, so that its level can be set apart from EAL's
 * (--log-level tw.dp:debug); registered at load time by EAL's constructor.
 */
#include "tw_log.h"

RTE_LOG_REGISTER(tw_logtype_dp, tw.dp, INFO);
