//! The text of the example corpus: an invented "Part 99" for light electric
//! airplanes, in English and Chinese, an airworthiness directive and its
//! revision, and maintenance guidance. Written for Hangar's examples; any
//! likeness to real rules is in the style, not the substance.

/// One section: a citation number, a title and lettered paragraphs.
pub struct Section {
    pub number: &'static str,
    pub title: &'static str,
    pub paragraphs: &'static [&'static str],
}

pub const PART_TITLE: &str = "Part 99 — Example Airworthiness Standards: Light Electric Airplanes";

pub const PART_99: &[Section] = &[
    Section {
        number: "99.1",
        title: "Applicability.",
        paragraphs: &[
            "(a) This part prescribes airworthiness standards for the issue of type certificates, and changes to those certificates, for light electric airplanes with a maximum seating configuration of four passengers and a maximum takeoff weight of 1,500 kilograms or less.",
            "(b) Each person who applies under this part must show compliance with the applicable requirements of this part and with any special conditions the Administrator prescribes for novel or unusual design features.",
        ],
    },
    Section {
        number: "99.3",
        title: "Definitions.",
        paragraphs: &[
            "(a) Electric propulsion unit means an electric motor, its controller, the propeller and the associated cooling and monitoring equipment installed on the airplane.",
            "(b) Energy storage system means the batteries, battery management system, thermal management and the structure that contains them.",
            "(c) Usable energy means the energy that the energy storage system can deliver to the propulsion units before reaching the minimum state of charge established under § 99.61.",
        ],
    },
    Section {
        number: "99.11",
        title: "Weight and center of gravity.",
        paragraphs: &[
            "(a) The applicant must determine the ranges of weight and center of gravity within which the airplane may be operated safely.",
            "(b) The weight of the energy storage system must be included in the empty weight, and its position must be fixed for every loading condition.",
        ],
    },
    Section {
        number: "99.21",
        title: "Flight loads.",
        paragraphs: &[
            "(a) The airplane must be designed for a positive limit maneuvering load factor of not less than 3.8 and a negative limit maneuvering load factor of not less than 1.5.",
            "(b) The gust loads must be determined for a derived gust velocity of 15.24 meters per second at the design cruising speed.",
            "(c) Compliance with the strength requirements must be shown for each critical combination of weight, center of gravity and altitude.",
        ],
    },
    Section {
        number: "99.25",
        title: "Proof of structure.",
        paragraphs: &[
            "(a) The structure must support limit loads without detrimental permanent deformation and ultimate loads without failure for at least 3 seconds.",
            "(b) Ultimate loads are limit loads multiplied by a factor of safety of 1.5 unless this part prescribes another factor.",
        ],
    },
    Section {
        number: "99.41",
        title: "Electric propulsion unit installation.",
        paragraphs: &[
            "(a) Each electric propulsion unit must be installed so that a failure of one unit does not prevent continued safe flight and landing.",
            "(b) The propulsion unit controller must limit the motor current to the maximum value established during the endurance test.",
            "(c) Each propulsion unit must have a means to stop it in flight that the pilot can operate without removing a hand from the primary flight controls.",
        ],
    },
    Section {
        number: "99.51",
        title: "Energy storage system.",
        paragraphs: &[
            "(a) The energy storage system must be designed so that no single failure leads to a thermal runaway that propagates to adjacent cells.",
            "(b) Gases released by a cell failure must be vented overboard and must not enter the cabin.",
            "(c) The battery management system must disconnect any module whose temperature exceeds the maximum value established by the applicant.",
        ],
    },
    Section {
        number: "99.61",
        title: "Energy reserves.",
        paragraphs: &[
            "(a) The applicant must establish a minimum state of charge that provides at least 30 minutes of flight at the maximum range power setting.",
            "(b) The pilot must be warned, by a visual and an aural alert, when the usable energy falls to the reserve established under paragraph (a).",
        ],
    },
    Section {
        number: "99.71",
        title: "Instruments and displays.",
        paragraphs: &[
            "(a) Each airplane must display the state of charge, the remaining usable energy and the estimated endurance at the current power setting.",
            "(b) The temperature of each battery module and each propulsion unit controller must be displayed or monitored with an alert.",
        ],
    },
    Section {
        number: "99.81",
        title: "Airplane flight manual.",
        paragraphs: &[
            "(a) The airplane flight manual must contain the operating limitations, normal and emergency procedures, and the performance information established under this part.",
            "(b) The manual must contain the procedure for a landing after the loss of all propulsion, including the expected glide distance.",
        ],
    },
];

pub const ZH_PART_TITLE: &str = "示例规章 CCAR-99 轻型电动飞机适航规定";

pub const ZH_PART_99: &[Section] = &[
    Section {
        number: "99.1",
        title: "适用范围",
        paragraphs: &[
            "(a) 本规定适用于最大座位数不超过四座、最大起飞重量不超过1500千克的轻型电动飞机型号合格证的颁发和更改。",
            "(b) 申请人应当表明符合本规定的适用要求，以及局方针对新颖或者独特设计特征规定的专用条件。",
        ],
    },
    Section {
        number: "99.3",
        title: "定义",
        paragraphs: &[
            "(a) 电推进单元是指安装在飞机上的电动机、控制器、螺旋桨以及相关的冷却和监控设备。",
            "(b) 储能系统是指电池、电池管理系统、热管理系统以及容纳上述设备的结构。",
        ],
    },
    Section {
        number: "99.21",
        title: "飞行载荷",
        paragraphs: &[
            "(a) 飞机的正限制机动载荷系数不得小于3.8，负限制机动载荷系数不得小于1.5。",
            "(b) 在设计巡航速度下，应当按每秒15.24米的导出突风速度确定突风载荷。",
        ],
    },
    Section {
        number: "99.41",
        title: "电推进单元的安装",
        paragraphs: &[
            "(a) 每一电推进单元的安装，应当保证任一单元失效后不妨碍飞机持续安全飞行和着陆。",
            "(b) 驾驶员应当能够在不松开主飞行操纵器件的情况下，在飞行中停止任一电推进单元。",
        ],
    },
    Section {
        number: "99.51",
        title: "储能系统",
        paragraphs: &[
            "(a) 储能系统的设计应当保证任何单一失效不会导致热失控并蔓延至相邻电芯。",
            "(b) 电芯失效释放的气体应当排出机外，不得进入客舱。",
            "(c) 当任一模块温度超过申请人确定的最大值时，电池管理系统应当断开该模块。",
        ],
    },
    Section {
        number: "99.61",
        title: "能量储备",
        paragraphs: &[
            "(a) 申请人应当确定最低荷电状态，该状态至少能够以最大航程功率飞行30分钟。",
            "(b) 当可用能量降至本条(a)款规定的储备值时，应当以目视和音响告警提醒驾驶员。",
        ],
    },
    Section {
        number: "99.81",
        title: "飞机飞行手册",
        paragraphs: &[
            "(a) 飞机飞行手册应当包括使用限制、正常和应急程序，以及按照本规定确定的性能资料。",
            "(b) 手册应当包括全部推进失效后的着陆程序，包括预计的滑翔距离。",
        ],
    },
];

/// An airworthiness directive, original issue and revision 1 (a near duplicate).
pub struct Directive {
    pub number: &'static str,
    pub issued: &'static str,
    pub paragraphs: Vec<&'static str>,
}

pub fn directive(revision: bool) -> Directive {
    let mut paragraphs = vec![
        "Airworthiness Directive",
        "Subject: Energy Storage System — Battery Module Retaining Brackets — Inspection",
        "Applicability: Example Aircraft Company model EA-2 airplanes, all serial numbers, except those on which modification 1042 has been embodied in production.",
        "Reason: Occurrences have been reported of cracked retaining brackets on battery modules of the energy storage system. This condition, if not detected and corrected, could lead to the detachment of a battery module during a hard landing, possibly resulting in a fire in the battery compartment.",
        "Required Actions and Compliance: Within 100 flight hours after the effective date of this directive, inspect each battery module retaining bracket for cracks in accordance with the instructions of service bulletin EA-2-24-007.",
        "If any crack is found during the inspection required by this directive, before next flight, replace the affected bracket with a serviceable part.",
        "Reporting: Within 30 days after the inspection, report the results, including no findings, to the type certificate holder.",
        "Terminating Action: Embodiment of modification 1042 on an airplane constitutes terminating action for the repetitive inspections required by this directive.",
        "Contact: For further information about this directive, contact the Example Airworthiness Authority, Directorate of Continuing Airworthiness.",
    ];
    if revision {
        paragraphs[4] = "Required Actions and Compliance: Within 50 flight hours after the effective date of this directive, inspect each battery module retaining bracket for cracks in accordance with the instructions of service bulletin EA-2-24-007 Revision 01.";
        paragraphs.insert(6, "Repetitive Inspections: Repeat the inspection at intervals not exceeding 600 flight hours until the terminating action is accomplished.");
    }
    Directive {
        number: if revision { "2026-0042R1" } else { "2026-0042" },
        issued: if revision { "12 March 2026" } else { "20 January 2026" },
        paragraphs,
    }
}

pub const MAINTENANCE_TITLE: &str = "Maintenance of Energy Storage Systems — Guidance";

pub const MAINTENANCE: &[(&str, &[&str])] = &[
    (
        "Scope",
        &[
            "This guidance describes acceptable methods for the inspection, storage and replacement of batteries installed in light electric airplanes.",
        ],
    ),
    (
        "Inspection",
        &[
            "Inspect each battery module for swelling, electrolyte leakage and damage to its connectors at every 100-hour inspection.",
            "Record the state of health reported by the battery management system and compare it with the previous record.",
        ],
    ),
    (
        "Storage",
        &[
            "Store batteries removed from the airplane at a state of charge between 40 and 60 percent in a dry place between 10 and 25 degrees Celsius.",
        ],
    ),
];

pub const ZH_GUIDANCE_TITLE: &str = "储能系统维修指南（示例）";

pub const ZH_GUIDANCE: &[&str] = &[
    "一、目的",
    "本指南说明轻型电动飞机电池检查、存放和更换的可接受方法，供维修单位参考。",
    "二、检查",
    "每次100小时检查时，应当检查每一电池模块是否鼓胀、电解液是否泄漏以及连接器是否损坏。",
    "应当记录电池管理系统报告的健康状态，并与上一次记录进行比较。",
    "三、存放",
    "从飞机上拆下的电池，应当在荷电状态为40%至60%时，存放于温度为10至25摄氏度的干燥场所。",
];

pub const ZH_SPECIAL_CONDITIONS_TITLE: &str = "示例专用条件 SC-99-001 分布式电推进";

pub const ZH_SPECIAL_CONDITIONS: &[Section] = &[
    Section {
        number: "SC.1",
        title: "适用性",
        paragraphs: &["(a) 本专用条件适用于采用四个及以上电推进单元的示例型号飞机。"],
    },
    Section {
        number: "SC.2",
        title: "推进失效",
        paragraphs: &[
            "(a) 任意两个电推进单元同时失效后，飞机应当能够保持可控飞行并完成着陆。",
            "(b) 推进单元之间的电气隔离应当保证单一短路不会影响其他单元。",
        ],
    },
];
