"""A child's record and a class, declared once (DESIGN.md pattern 5; MISSION.md R3.1–R3.3).

The form, the server-side checks, the Excel template, the import mapping and the export columns
are all derived from ``CHILD``. ``PERSONAL`` lists the fields stored encrypted and shown masked.
"""

from __future__ import annotations

from portal.data.choices import DocumentType
from portal.data.fields import FieldSpec, Section

GRADES: tuple[str, ...] = ("托班", "小班", "中班", "大班", "学前班", "混龄")
# Usual class sizes (幼儿园工作规程); 托班 and 学前班 are not in that table: 20 and 35 are our defaults.
GRADE_CAPS: dict[str, int] = {"托班": 20, "小班": 25, "中班": 30, "大班": 35, "学前班": 35, "混龄": 30}
GENDERS: tuple[str, ...] = ("男", "女")
DOCUMENT_TYPES: tuple[str, ...] = tuple(t.value for t in DocumentType)
RELATIONS: tuple[str, ...] = ("父亲", "母亲", "祖父母", "外祖父母", "其他亲属", "其他监护人")
NATIONALITIES: tuple[str, ...] = ("中国", "中国香港", "中国澳门", "中国台湾", "其他国家或地区")
ETHNICITIES: tuple[str, ...] = (
    "汉族", "蒙古族", "回族", "藏族", "维吾尔族", "苗族", "彝族", "壮族", "布依族", "朝鲜族",
    "满族", "侗族", "瑶族", "白族", "土家族", "哈尼族", "哈萨克族", "傣族", "黎族", "傈僳族",
    "佤族", "畲族", "高山族", "拉祜族", "水族", "东乡族", "纳西族", "景颇族", "柯尔克孜族", "土族",
    "达斡尔族", "仫佬族", "羌族", "布朗族", "撒拉族", "毛南族", "仡佬族", "锡伯族", "阿昌族", "普米族",
    "塔吉克族", "怒族", "乌孜别克族", "俄罗斯族", "鄂温克族", "德昂族", "保安族", "裕固族", "京族", "塔塔尔族",
    "独龙族", "鄂伦春族", "赫哲族", "门巴族", "珞巴族", "基诺族", "其他", "外国血统中国籍人士",
)  # fmt: skip
# Provincial-level divisions whose institutions issue student numbers in the national system (the 31
# of the mainland; Hong Kong, Macao and Taiwan issue none), by GB/T 2260 code: the province a child
# transferred in from (§27.3). The deployment's own province is refused at check time.
ORIGIN_PROVINCES: dict[str, str] = {
    "北京市": "11", "天津市": "12", "河北省": "13", "山西省": "14", "内蒙古自治区": "15",
    "辽宁省": "21", "吉林省": "22", "黑龙江省": "23", "上海市": "31", "江苏省": "32",
    "浙江省": "33", "安徽省": "34", "福建省": "35", "江西省": "36", "山东省": "37",
    "河南省": "41", "湖北省": "42", "湖南省": "43", "广东省": "44", "广西壮族自治区": "45",
    "海南省": "46", "重庆市": "50", "四川省": "51", "贵州省": "52", "云南省": "53",
    "西藏自治区": "54", "陕西省": "61", "甘肃省": "62", "青海省": "63", "宁夏回族自治区": "64",
    "新疆维吾尔自治区": "65",
}  # fmt: skip
FLAGS: tuple[tuple[str, str], ...] = (
    ("flag_poverty", "建档立卡贫困家庭"),
    ("flag_disabled", "残疾幼儿"),
    ("flag_left_behind", "留守儿童"),
    ("flag_orphan", "孤儿"),
)

CHILD = Section(
    "child",
    "幼儿信息",
    (
        FieldSpec("name", "姓名", required=True, max_length=50, help="可含生僻字（如𠮷）和间隔号（·）"),
        FieldSpec("gender", "性别", kind="choice", required=True, choices=GENDERS),
        FieldSpec("birth_date", "出生日期", kind="date", required=True),
        FieldSpec("document_type", "证件类型", kind="choice", required=True, choices=DOCUMENT_TYPES),
        FieldSpec("document_number", "证件号码", max_length=30, help="证件类型为“无证件”时不填"),
        FieldSpec("nationality", "国籍/地区", kind="choice", required=True, choices=NATIONALITIES),
        FieldSpec("ethnicity", "民族", kind="choice", required=True, choices=ETHNICITIES),
        FieldSpec("hukou_region", "户口所在地", max_length=100, help="如：河南省郑州市中牟县"),
        FieldSpec("address", "现住址", required=True, max_length=200),
        FieldSpec("guardian1_relation", "监护人一关系", kind="choice", required=True, choices=RELATIONS),
        FieldSpec("guardian1_name", "监护人一姓名", required=True, max_length=50),
        FieldSpec("guardian1_phone", "监护人一电话", required=True, max_length=20),
        FieldSpec("guardian2_relation", "监护人二关系", kind="choice", choices=RELATIONS),
        FieldSpec("guardian2_name", "监护人二姓名", max_length=50),
        FieldSpec("guardian2_phone", "监护人二电话", max_length=20),
        FieldSpec("enrolment_date", "入园日期", kind="date", required=True),
        FieldSpec("class_name", "班级", required=True, max_length=50, help="本学年已建立的班级名称"),
        *(FieldSpec(name, label, kind="bool") for name, label in FLAGS),
        FieldSpec(
            "origin_province",
            "外省转入·原省份",
            kind="choice",
            choices=tuple(ORIGIN_PROVINCES),
            help="从外省转入的幼儿填写原就读幼儿园所在的省份，并填写原学籍号；其他幼儿不填",
        ),
        FieldSpec(
            "origin_number",
            "外省转入·原学籍号",
            max_length=19,
            help="外省已发给该幼儿的学籍号（G、J 或 L 开头，共 19 位）；审核通过后沿用该号码",
        ),
    ),
)

# Stored encrypted (all but the origin number with a keyed hash beside them); shown masked, and
# left blank on an edit form to keep the stored value (DESIGN.md pattern 7).
PERSONAL: tuple[str, ...] = ("document_number", "guardian1_phone", "guardian2_phone", "origin_number")
ORIGIN_FIELDS: tuple[str, ...] = ("origin_province", "origin_number")
KEY_FIELDS: tuple[str, ...] = ("name", "gender", "birth_date", "document_type", "document_number")

CLASS = Section(
    "class",
    "班级",
    (
        FieldSpec("name", "班级名称", required=True, max_length=50),
        FieldSpec("grade", "年级", kind="choice", required=True, choices=GRADES),
        FieldSpec("school_year", "学年", required=True, max_length=9, help="如 2026-2027"),
        FieldSpec("capacity", "额定人数", kind="integer", min_value=1, max_value=60, help="超过时提示，不阻止"),
    ),
)
